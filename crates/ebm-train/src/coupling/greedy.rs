//! The greedy pairing: every cost sorted once, the cheapest pair whose row and column are both
//! free committed first (TorchEBM's `GreedyCoupling`).

/// A permutation pairing each row of the square cost matrix `cost` (`[n, n]`, row-major, finite)
/// with a column; ties go to the lower flat index.
pub(super) fn assignment(cost: &[f64], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n * n).collect();
    order.sort_by(|&a, &b| cost[a].total_cmp(&cost[b]).then(a.cmp(&b)));
    let (mut partners, mut row_used, mut col_used) = (vec![0; n], vec![false; n], vec![false; n]);
    let mut filled = 0;
    for flat in order {
        let (i, j) = (flat / n, flat % n);
        if !row_used[i] && !col_used[j] {
            partners[i] = j;
            (row_used[i], col_used[j]) = (true, true);
            filled += 1;
            if filled == n {
                break;
            }
        }
    }
    partners
}
