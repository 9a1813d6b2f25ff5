//! One way to spread independent items over the machine's cores, results in the items' order.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads for `items` items when each thread should get at least `min_each`: one per core (at
/// most 8), never more than the items allow, at least one.
pub fn count(items: usize, min_each: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8)
        .min(items / min_each.max(1))
        .max(1)
}

/// `f` over every item, on up to [`count`] threads taking the next item as each finishes one
/// (specs differ in size, so fixed chunks would leave a core idle); results in the items'
/// order. With one thread nothing is spawned. A panic in `f` goes on in the caller rather than
/// silently dropping that thread's items.
pub fn map<T: Sync, R: Send>(items: &[T], min_each: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = count(items.len(), min_each);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_the_items_order() {
        let items: Vec<usize> = (0..1000).collect();
        let out = map(&items, 1, |i| {
            // Uneven work, so threads finish out of order.
            if i % 7 == 0 {
                std::thread::yield_now();
            }
            i * 2
        });
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(map(&[] as &[usize], 1, |i| *i), Vec::<usize>::new());
    }

    #[test]
    fn few_items_get_one_thread() {
        assert_eq!(count(0, 1), 1);
        assert_eq!(count(10, 64), 1);
        // Many items get a thread per core, up to eight.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(count(1000, 1), cores.clamp(1, 8));
        assert_eq!(count(64, 32), cores.clamp(1, 2));
        let on_caller = std::thread::current().id();
        let ids = map(&[1, 2, 3], 64, |_| std::thread::current().id());
        assert!(ids.iter().all(|id| *id == on_caller));
    }
}
