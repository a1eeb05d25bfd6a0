//! A store that tries a failed read again: object stores and HTTP servers answer 503, time out
//! or drop connections now and then. Each read gets [`ATTEMPTS`] tries, 50 ms apart and doubling;
//! a key that is not there is an answer, not a failure. What failed for good is counted, so a
//! caller can say how much of a picture is missing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs::storage::{
    MaybeBytes, MaybeBytesIterator, ReadableStorage, ReadableStorageTraits, StorageError, StoreKey,
};

/// Tries per read.
pub const ATTEMPTS: u32 = 4;

/// Reads through `inner`, retrying failures.
pub struct Retrying {
    inner: ReadableStorage,
    first_wait: Duration,
    /// Reads that needed more than one try.
    pub retried: AtomicU64,
    /// Reads that failed every try.
    pub failed: AtomicU64,
}

impl std::fmt::Debug for Retrying {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrying")
            .field("retried", &self.retried)
            .field("failed", &self.failed)
            .finish()
    }
}

impl Retrying {
    pub fn new(inner: ReadableStorage, first_wait: Duration) -> Retrying {
        Retrying {
            inner,
            first_wait,
            retried: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn attempt<T>(
        &self,
        mut read: impl FnMut() -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut wait = self.first_wait;
        let mut last = None;
        for n in 0..ATTEMPTS {
            match read() {
                Ok(v) => {
                    if n > 0 {
                        self.retried.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(v);
                }
                Err(e) => last = Some(e),
            }
            if n + 1 < ATTEMPTS {
                std::thread::sleep(wait);
                wait *= 2;
            }
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
        Err(last.expect("at least one attempt"))
    }
}

impl ReadableStorageTraits for Retrying {
    fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        self.attempt(|| self.inner.get(key))
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        let ranges: Vec<ByteRange> = byte_ranges.collect();
        let parts = self.attempt(|| {
            let Some(parts) = self
                .inner
                .get_partial_many(key, Box::new(ranges.clone().into_iter()))?
            else {
                return Ok(None);
            };
            // Read every part now, so that a failure part-way is retried here.
            parts.collect::<Result<Vec<_>, _>>().map(Some)
        })?;
        Ok(parts.map(|p| Box::new(p.into_iter().map(Ok)) as _))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.attempt(|| self.inner.size_key(key))
    }

    fn supports_get_partial(&self) -> bool {
        self.inner.supports_get_partial()
    }
}
