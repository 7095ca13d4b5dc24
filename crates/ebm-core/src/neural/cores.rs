//! The number of cores the host kernels split their work across.

/// The number of cores, asked once: `available_parallelism` reads cgroup files on every call,
/// which cost 6% of a CD step.
pub(super) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |t| t.get()))
}
