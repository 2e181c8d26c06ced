//! openraft's async runtime for a node: tokio, as openraft ships it, with a random source that a
//! simulation can seed.
//!
//! openraft draws random numbers for its election timeouts and the phase of its tick. In a node
//! they come from the operating system, as with openraft's own tokio runtime. A simulation runs
//! every node on one thread and must replay by seed, so it seeds that thread (`seed_this_thread`)
//! and every draw follows from the seed, in the order the simulated tasks make them.
//!
//! Must never: change anything but where random numbers come from; everything else is
//! `TokioRuntime`'s.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::time::Duration;

use openraft::async_runtime::{Select2, Select3, Select4};
use openraft::{AsyncRuntime, OptionalSend};
use openraft_rt_tokio::TokioRuntime;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

thread_local! {
    /// The next seed for a random source on this thread; none: the operating system's.
    static SEED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Makes every random draw openraft makes on this thread from now on follow from `seed`
/// (a simulation's), until `unseed_this_thread`.
pub fn seed_this_thread(seed: u64) {
    SEED.with(|cell| cell.set(Some(seed)));
}

/// Back to the operating system's random source on this thread.
pub fn unseed_this_thread() {
    SEED.with(|cell| cell.set(None));
}

/// SplitMix64's step: the next state and an output, each bit depending on every bit of `state`.
fn split_mix(state: u64) -> (u64, u64) {
    let next = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = next;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (next, z ^ (z >> 31))
}

/// A seed for one random source: the next from this thread's seed, or the operating system's.
fn next_seed() -> u64 {
    SEED.with(|cell| match cell.get() {
        Some(state) => {
            let (next, out) = split_mix(state);
            cell.set(Some(next));
            out
        }
        None => rand::rng().next_u64(),
    })
}

/// `TokioRuntime` with the random source above.
#[derive(Debug)]
pub struct Runtime {
    inner: TokioRuntime,
}

impl AsyncRuntime for Runtime {
    type JoinError = <TokioRuntime as AsyncRuntime>::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = <TokioRuntime as AsyncRuntime>::JoinHandle<T>;
    type Sleep = <TokioRuntime as AsyncRuntime>::Sleep;
    type Instant = <TokioRuntime as AsyncRuntime>::Instant;
    type TimeoutError = <TokioRuntime as AsyncRuntime>::TimeoutError;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = <TokioRuntime as AsyncRuntime>::Timeout<R, T>;
    type ThreadLocalRng = SmallRng;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        TokioRuntime::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        TokioRuntime::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        TokioRuntime::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(duration: Duration, future: F) -> Self::Timeout<R, F> {
        TokioRuntime::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(deadline: Self::Instant, future: F) -> Self::Timeout<R, F> {
        TokioRuntime::timeout_at(deadline, future)
    }

    fn select2<A, B>(a: A, b: B) -> impl Future<Output = Select2<A::Output, B::Output>> + OptionalSend
    where
        A: Future + OptionalSend,
        B: Future + OptionalSend,
    {
        TokioRuntime::select2(a, b)
    }

    fn select3<A, B, C>(
        a: A,
        b: B,
        c: C,
    ) -> impl Future<Output = Select3<A::Output, B::Output, C::Output>> + OptionalSend
    where
        A: Future + OptionalSend,
        B: Future + OptionalSend,
        C: Future + OptionalSend,
    {
        TokioRuntime::select3(a, b, c)
    }

    fn select4<A, B, C, D>(
        a: A,
        b: B,
        c: C,
        d: D,
    ) -> impl Future<Output = Select4<A::Output, B::Output, C::Output, D::Output>> + OptionalSend
    where
        A: Future + OptionalSend,
        B: Future + OptionalSend,
        C: Future + OptionalSend,
        D: Future + OptionalSend,
    {
        TokioRuntime::select4(a, b, c, d)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        TokioRuntime::is_panic(join_error)
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        SmallRng::seed_from_u64(next_seed())
    }

    type Mpsc = <TokioRuntime as AsyncRuntime>::Mpsc;
    type Watch = <TokioRuntime as AsyncRuntime>::Watch;
    type Oneshot = <TokioRuntime as AsyncRuntime>::Oneshot;
    type Mutex<T: OptionalSend + 'static> = <TokioRuntime as AsyncRuntime>::Mutex<T>;

    fn new(threads: usize) -> Self {
        Runtime { inner: TokioRuntime::new(threads) }
    }

    fn block_on<F, T>(&mut self, future: F) -> T
    where
        F: Future<Output = T>,
    {
        self.inner.block_on(future)
    }

    fn spawn_blocking<F, T>(f: F) -> impl Future<Output = Result<T, io::Error>> + Send
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        TokioRuntime::spawn_blocking(f)
    }
}

#[cfg(test)]
mod tests {
    use rand::RngExt;

    use super::*;

    #[test]
    fn a_seeded_thread_draws_the_same_numbers_again_and_an_unseeded_one_does_not() {
        let draw = || (0..4).map(|_| Runtime::thread_rng().random_range(0..u64::MAX)).collect::<Vec<_>>();
        seed_this_thread(42);
        let first = draw();
        seed_this_thread(42);
        assert_eq!(draw(), first);
        seed_this_thread(43);
        assert_ne!(draw(), first);
        unseed_this_thread();
        assert_ne!(draw(), draw());
    }
}
