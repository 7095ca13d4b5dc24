//! The number of cores the host kernels split their work across, and the split itself.

/// The number of cores, asked once: `available_parallelism` reads cgroup files on every call,
/// which cost 6% of a CD step.
pub(super) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |t| t.get()))
}

/// Runs `f` on every item, the items split into one contiguous run per core. Rayon's pool
/// outlives the call (a thread spawned per Langevin step cost a quarter of the step); the calling
/// thread takes the first run itself.
pub(super) fn for_each_split<T: Send>(items: &mut [T], f: impl Fn(&mut T) + Sync) {
    let run = items.len().div_ceil(cores()).max(1);
    rayon::in_place_scope(|scope| {
        let mut runs = items.chunks_mut(run);
        let own = runs.next();
        for part in runs {
            let f = &f;
            scope.spawn(move |_| part.iter_mut().for_each(f));
        }
        if let Some(part) = own {
            part.iter_mut().for_each(&f);
        }
    });
}
