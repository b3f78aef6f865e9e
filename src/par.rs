//! Work spread over the machine's cores: independent items mapped on scoped threads, the
//! results in the items' order (so the output never depends on which thread was faster).

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f` over `items` on up to `available_parallelism` threads (the calling one included); the
/// results in item order. Threads take the next item as they finish one, so a few slow items
/// do not hold up a whole share. One item or one core: no thread is started.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let threads = cores.min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let mut all: Vec<(usize, R)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut all = work();
        for h in helpers {
            match h.join() {
                Ok(done) => all.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_items_order() {
        let items: Vec<u64> = (0..100).collect();
        let out = super::map(&items, |&i| {
            // Uneven work, so threads finish out of order.
            let spin: u64 = (0..(i % 7) * 10_000).map(std::hint::black_box).sum();
            std::hint::black_box(spin);
            i
        });
        assert_eq!(out, items);
        assert!(super::map(&[] as &[u8], |_| 0).is_empty());
    }
}
