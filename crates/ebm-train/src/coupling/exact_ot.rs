//! The exact assignment: Jonker–Volgenant shortest augmenting paths (SciPy's
//! `linear_sum_assignment`, from the `lsap` crate).

/// The partner of each row of the square cost matrix `cost` (`[n, n]`, row-major, finite) in
/// an assignment of least total cost.
pub(super) fn assignment(cost: &[f64], n: usize) -> Vec<usize> {
    // `lsap` takes a `&Vec`: one copy of the matrix, small beside the solve.
    let (rows, cols) = lsap::solve(n, n, &cost.to_vec(), false)
        .expect("a finite square cost matrix has an assignment");
    let mut partners = vec![0; n];
    for (i, j) in rows.into_iter().zip(cols) {
        partners[i] = j;
    }
    partners
}
