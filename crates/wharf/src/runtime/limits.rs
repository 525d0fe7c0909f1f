//! Resource limits: memory (linear memories and tables, through a
//! `ResourceLimiter`), wall-clock time (a deadline, which epoch checks in
//! the guest's code let wharf enforce; see [`super::TimeoutBy`]) and fuel (a
//! deterministic instruction budget).
//!
//! Each limit comes from the run (`--memory`, `--timeout`, `--fuel`), else
//! the image (`[limits]` in its manifest), else the built-in default. The
//! defaults keep an untrusted guest from taking the host down: 2 GiB of
//! memory, ten million elements per table; time and fuel are unlimited
//! unless asked for, since a service may rightly run for ever.
//!
//! A limit of `0`, from the run or the image, means no limit, as
//! `docker run -m 0` does: it overrides the image's limit (or the
//! default) rather than allowing nothing. Without a memory limit each
//! linear memory may still grow no further than 4 GiB
//! ([`MAX_MEMORY_WITHOUT_LIMIT`]), all that a 32-bit memory can address.

use std::fmt;
use std::time::Duration;

use wasmtime::ResourceLimiter;

use super::status;
use crate::manifest::Limits;
use crate::units::ByteSize;

/// Memory a guest may use unless its image or run says otherwise.
pub const DEFAULT_MEMORY: u64 = 2 << 30;
/// How far one linear memory may grow when there is no memory limit
/// (`--memory 0`): 4 GiB, the whole of a 32-bit memory, which is what WASI
/// programs have; a 64-bit memory is held to it too, so that "no limit"
/// cannot take all the host has.
pub const MAX_MEMORY_WITHOUT_LIMIT: u64 = 4 << 30;
/// Elements a single table may hold.
pub const MAX_TABLE_ELEMENTS: usize = 10_000_000;
/// Instances, memories and tables a store may create (components create
/// several core instances each).
const MAX_INSTANCES: usize = 1_000;

/// The limits in force for one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EffectiveLimits {
    /// Bytes of linear memory and tables, all together, if limited (each
    /// memory then grows to [`MAX_MEMORY_WITHOUT_LIMIT`] at most).
    pub memory: Option<u64>,
    /// Wall-clock time, if limited.
    pub timeout: Option<Duration>,
    /// Fuel, if limited.
    pub fuel: Option<u64>,
}

impl EffectiveLimits {
    /// The run's limits over the image's over the defaults ([`DEFAULT_MEMORY`],
    /// no timeout, no fuel budget). A limit of `0` (`Duration::ZERO` for the
    /// timeout) is no limit, whether the run or the image sets it.
    pub fn resolve(run: &Limits, image: &Limits) -> Self {
        Self {
            memory: Some(run.memory.or(image.memory).unwrap_or(DEFAULT_MEMORY))
                .filter(|&bytes| bytes != 0),
            timeout: run.timeout.or(image.timeout).filter(|t| !t.is_zero()),
            fuel: run.fuel.or(image.fuel).filter(|&fuel| fuel != 0),
        }
    }
}

/// A limit the guest ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitHit {
    /// It wanted more memory than allowed.
    Memory {
        /// The limit, in bytes.
        limit: u64,
    },
    /// It ran longer than allowed.
    Timeout {
        /// The limit.
        limit: Duration,
    },
    /// It used up its fuel.
    Fuel {
        /// The budget it had.
        limit: u64,
    },
}

impl LimitHit {
    /// The exit status wharf reports: 137 for memory (as an OOM kill), 124
    /// for time (as `timeout(1)`), 152 for fuel (as SIGXCPU).
    pub fn code(&self) -> i32 {
        match self {
            LimitHit::Memory { .. } => status::MEMORY_LIMIT,
            LimitHit::Timeout { .. } => status::TIMEOUT,
            LimitHit::Fuel { .. } => status::FUEL_EXHAUSTED,
        }
    }
}

impl fmt::Display for LimitHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitHit::Memory { limit } => write!(
                f,
                "the guest exceeded its memory limit of {}",
                ByteSize(*limit)
            ),
            LimitHit::Timeout { limit } => write!(
                f,
                "the guest exceeded its timeout of {}",
                humantime::format_duration(*limit)
            ),
            LimitHit::Fuel { limit } => write!(f, "the guest used up its fuel of {limit}"),
        }
    }
}

/// The error a refused memory growth raises, so that the trap it causes
/// can be told apart from others.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded: {wanted} bytes requested")]
pub struct MemoryLimitExceeded {
    /// The limit.
    pub limit: u64,
    /// What the guest would have had.
    pub wanted: u64,
}

/// Counts the memory of every linear memory and table of a store against
/// one budget, if there is one.
#[derive(Debug)]
pub struct GuestLimiter {
    limit: Option<u64>,
    used: u64,
    peak: u64,
}

impl GuestLimiter {
    /// A limiter with a budget of `limit` bytes; with none, each linear
    /// memory grows to [`MAX_MEMORY_WITHOUT_LIMIT`] at most.
    pub fn new(limit: Option<u64>) -> Self {
        Self {
            limit,
            used: 0,
            peak: 0,
        }
    }

    /// The most bytes the guest held at once.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    fn grow(&mut self, current: u64, desired: u64, maximum: Option<u64>) -> wasmtime::Result<bool> {
        // A growth past the memory's own maximum fails without wharf's help
        // and must not be counted.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let wanted = self.used.saturating_sub(current).saturating_add(desired);
        if let Some(limit) = self.limit
            && wanted > limit
        {
            return Err(MemoryLimitExceeded { limit, wanted }.into());
        }
        self.used = wanted;
        self.peak = self.peak.max(wanted);
        Ok(true)
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if self.limit.is_none() && desired as u64 > MAX_MEMORY_WITHOUT_LIMIT {
            // As a memory at its own maximum: the growth fails, the guest
            // goes on (malloc returns NULL, memory.grow -1).
            return Ok(false);
        }
        self.grow(current as u64, desired as u64, maximum.map(|m| m as u64))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        let element = std::mem::size_of::<usize>() as u64;
        self.grow(
            current as u64 * element,
            desired as u64 * element,
            maximum.map(|m| m as u64 * element),
        )
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_INSTANCES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_overrides_the_image_which_overrides_the_defaults() {
        let image = Limits {
            memory: Some(1 << 20),
            timeout: Some(Duration::from_secs(5)),
            fuel: None,
        };
        let run = Limits {
            timeout: Some(Duration::from_secs(1)),
            ..Limits::default()
        };
        let limits = EffectiveLimits::resolve(&run, &image);
        assert_eq!(limits.memory, Some(1 << 20));
        assert_eq!(limits.timeout, Some(Duration::from_secs(1)));
        assert_eq!(limits.fuel, None);
        assert_eq!(
            EffectiveLimits::resolve(&Limits::default(), &Limits::default()).memory,
            Some(DEFAULT_MEMORY)
        );
    }

    #[test]
    fn zero_is_no_limit_from_the_run_or_the_image() {
        let image = Limits {
            memory: Some(1 << 20),
            timeout: Some(Duration::from_secs(5)),
            fuel: Some(1000),
        };
        let zeros = Limits {
            memory: Some(0),
            timeout: Some(Duration::ZERO),
            fuel: Some(0),
        };
        let none = EffectiveLimits {
            memory: None,
            timeout: None,
            fuel: None,
        };
        // The run's 0 overrides the image's limit…
        assert_eq!(EffectiveLimits::resolve(&zeros, &image), none);
        // …and the image's 0 the default memory.
        assert_eq!(EffectiveLimits::resolve(&Limits::default(), &zeros), none);
        // A limit on the run still overrides the image's 0.
        let run = Limits {
            memory: Some(64 << 20),
            ..Limits::default()
        };
        assert_eq!(
            EffectiveLimits::resolve(&run, &zeros).memory,
            Some(64 << 20)
        );
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn without_a_limit_each_memory_grows_to_4_gib() {
        let mut limiter = GuestLimiter::new(None);
        assert!(limiter.memory_growing(0, 3 << 30, None).unwrap());
        assert!(limiter.memory_growing(0, 4 << 30, None).unwrap());
        // A 64-bit memory is refused past 4 GiB: the growth fails, the
        // guest is not stopped.
        assert!(!limiter.memory_growing(4 << 30, 5 << 30, None).unwrap());
        assert_eq!(limiter.peak(), 7 << 30);
    }

    #[test]
    fn memories_and_tables_share_one_budget() {
        let mut limiter = GuestLimiter::new(Some(1 << 20));
        assert!(limiter.memory_growing(0, 512 << 10, None).unwrap());
        assert!(limiter.memory_growing(0, 256 << 10, None).unwrap());
        let err = limiter
            .memory_growing(512 << 10, 1 << 20, None)
            .unwrap_err();
        assert!(err.downcast_ref::<MemoryLimitExceeded>().is_some());
        // Tables count a pointer per element.
        assert!(limiter.table_growing(0, 1024, None).unwrap());
        assert!(limiter.table_growing(0, 1 << 20, None).is_err());
    }

    #[test]
    fn a_growth_past_the_memorys_own_maximum_is_not_counted() {
        let mut limiter = GuestLimiter::new(Some(1 << 20));
        assert!(
            limiter
                .memory_growing(0, 64 << 10, Some(128 << 10))
                .unwrap()
        );
        assert!(
            !limiter
                .memory_growing(64 << 10, 512 << 10, Some(128 << 10))
                .unwrap()
        );
        // The failed attempt left the budget untouched.
        assert!(limiter.memory_growing(0, 900 << 10, None).unwrap());
        assert_eq!(limiter.peak(), (64 + 900) << 10);
    }

    #[test]
    fn messages_name_the_limit_in_units_a_person_reads() {
        let text = LimitHit::Memory { limit: 64 << 20 }.to_string();
        assert_eq!(text, "the guest exceeded its memory limit of 64MiB");
        let text = LimitHit::Timeout {
            limit: Duration::from_millis(1500),
        }
        .to_string();
        assert_eq!(text, "the guest exceeded its timeout of 1s 500ms");
    }
}
