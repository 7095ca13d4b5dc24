//! Reader for IDX files (the MNIST format): a magic number giving the element type and rank, the
//! dimensions as big-endian u32, then the data.

use std::path::Path;

use crate::error::DataError;

/// The contents of an IDX file of unsigned bytes (images or labels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, e.g. `[60000, 28, 28]` for MNIST images or `[60000]` for labels.
    pub dims: Vec<usize>,
    /// The bytes, row-major.
    pub data: Vec<u8>,
}

fn malformed(path: &Path, reason: impl Into<String>) -> DataError {
    DataError::Malformed {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Parses IDX bytes of element type `u8` (type code 0x08); `path` is only used in errors.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray, DataError> {
    if bytes.len() < 4 {
        return Err(malformed(
            path,
            format!("{} bytes is shorter than the 4-byte header", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(malformed(
            path,
            "the magic number must start with two zero bytes",
        ));
    }
    if bytes[2] != 0x08 {
        return Err(malformed(
            path,
            format!(
                "element type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
                bytes[2]
            ),
        ));
    }
    let rank = bytes[3] as usize;
    if rank == 0 {
        return Err(malformed(path, "rank 0"));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(malformed(
            path,
            format!(
                "truncated header: {} bytes, {header} needed for rank {rank}",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| malformed(path, "dimensions overflow"))?;
    let data = &bytes[header..];
    if data.len() != count {
        return Err(malformed(
            path,
            format!(
                "{} data bytes, dimensions {dims:?} need {count}",
                data.len()
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        data: data.to_vec(),
    })
}

/// Reads an IDX file of unsigned bytes.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray, DataError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_idx(&bytes, path)
}

/// Reads MNIST-format images `[N, H, W]` as `[N, H·W]` floats in `[0, 1]`.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<(Vec<f32>, [usize; 3]), DataError> {
    let path = path.as_ref();
    let array = read_idx(path)?;
    if array.dims.len() != 3 {
        return Err(malformed(
            path,
            format!(
                "images need rank 3 ([N, H, W]), got dimensions {:?}",
                array.dims
            ),
        ));
    }
    let shape = [array.dims[0], array.dims[1], array.dims[2]];
    Ok((
        array.data.iter().map(|&b| b as f32 / 255.0).collect(),
        shape,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            b.extend(d.to_be_bytes());
        }
        b.extend(data);
        b
    }

    fn write(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("ebm-idx-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn reads_images_and_labels() {
        let images: Vec<u8> = (0..2 * 3 * 4).map(|i| (i * 10) as u8).collect();
        let path = write("images", &idx_bytes(&[2, 3, 4], &images));
        let (pixels, shape) = read_idx_images(&path).unwrap();
        assert_eq!(shape, [2, 3, 4]);
        assert_eq!(pixels.len(), 24);
        assert_eq!(pixels[1], 10.0 / 255.0);
        let labels = read_idx(write("labels", &idx_bytes(&[2], &[7, 1]))).unwrap();
        assert_eq!(
            labels,
            IdxArray {
                dims: vec![2],
                data: vec![7, 1]
            }
        );
    }

    #[test]
    fn malformed_files_are_typed_errors() {
        let good = idx_bytes(&[2, 2, 2], &[0; 8]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("short", vec![0, 0]),
            ("magic", {
                let mut b = good.clone();
                b[0] = 1;
                b
            }),
            ("type", {
                let mut b = good.clone();
                b[2] = 0x0d;
                b
            }),
            ("truncated-header", good[..9].to_vec()),
            ("truncated-data", good[..good.len() - 1].to_vec()),
            ("extra-data", [good.clone(), vec![1]].concat()),
        ];
        for (name, bytes) in cases {
            let err = read_idx(write(name, &bytes)).unwrap_err();
            assert!(
                matches!(err, DataError::Malformed { .. }),
                "{name}: {err:?}"
            );
        }
        let labels = write("rank1", &idx_bytes(&[2], &[0, 1]));
        assert!(matches!(
            read_idx_images(&labels),
            Err(DataError::Malformed { .. })
        ));
        assert!(matches!(
            read_idx("/nonexistent/ebm.idx"),
            Err(DataError::Io { .. })
        ));
    }
}
