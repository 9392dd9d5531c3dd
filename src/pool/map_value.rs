//! The map family for values of any serde type (feature `serde`):
//! [`Pool::map_values`], [`Pool::map_async_values`],
//! [`Pool::imap_values`], [`Pool::imap_unordered_values`],
//! [`Pool::starmap_values`]. The same engine as the `TaskData` forms
//! ([`Imap`]), with the items encoded into the slots (see `value.rs`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::map::{Direct, Imap, MapResult, Star, StarFn, collect_vec, no_callbacks};
use super::value::Encoded;
use super::{Pool, TaskError};

impl<const SLOTS: usize, const BYTES: usize> Pool<SLOTS, BYTES> {
    /// [`Pool::map`] for values of any serde type: Python's
    /// `map(f, items, chunksize)` over a list of `str`s, objects…, the
    /// results in a `Vec` in input order.
    ///
    /// Items are encoded into task slots as they are taken: a chunk holds
    /// up to `chunksize` items (`None`: about four chunks per worker, as
    /// Python) and as many as fill half the slot, so its results have
    /// about twice the room; each result gets the room the chunk's
    /// earlier results left. A result that does not fit fails with
    /// [`ErrorKind::EncodedSize`](crate::ErrorKind::EncodedSize) naming
    /// [`CHUNK_KNOB`](super::CHUNK_KNOB) (pass a smaller `chunksize`, down
    /// to 1 for the whole slot).
    ///
    /// ```no_run
    /// use mproc::pool::Pool;
    ///
    /// fn stem(path: String) -> String {
    ///     path.rsplit('/').next().unwrap_or("").trim_end_matches(".txt").to_string()
    /// }
    ///
    /// let pool = Pool::new(2)?;
    /// let paths = vec!["/srv/a.txt".to_string(), "/srv/b.txt".to_string()];
    /// assert_eq!(pool.map_values(stem, paths, None)?, ["a", "b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first failed task in input order, as [`Pool::map`]; an item
    /// whose encoding does not fit an empty slot is
    /// [`ErrorKind::EncodedSize`](crate::ErrorKind::EncodedSize) naming
    /// [`TASK_BYTES_KNOB`](super::TASK_BYTES_KNOB) (the items before it
    /// run to their end first).
    pub fn map_values<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: impl Into<Option<usize>>,
    ) -> Result<Vec<R>, TaskError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        collect_vec(
            Imap::<Encoded<Direct<F>>, A, R, _, SLOTS, BYTES>::new(
                self,
                Encoded(Direct(f)),
                items.into_iter(),
                chunksize.into(),
                true,
            ),
            "Pool::map_values",
        )
    }

    /// [`Pool::map_into`] for values of any serde type: into the caller's
    /// buffer, at most `out.len()` items. Returns how many were written.
    ///
    /// # Errors
    ///
    /// As [`Pool::map_values`].
    pub fn map_values_into<F, A, R, I>(
        &self,
        f: F,
        items: I,
        out: &mut [R],
        chunksize: impl Into<Option<usize>>,
    ) -> Result<usize, TaskError>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        self.map_async_values(f, items, out, chunksize).get()
    }

    /// [`Pool::map_async`] for values of any serde type: submits the first
    /// chunks and returns at once; the results go to `out`.
    pub fn map_async_values<'o, F, A, R, I>(
        &self,
        f: F,
        items: I,
        out: &'o mut [R],
        chunksize: impl Into<Option<usize>>,
    ) -> MapResult<'_, 'o, Encoded<Direct<F>>, A, R, core::iter::Take<I::IntoIter>, SLOTS, BYTES>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        let items = items.into_iter().take(out.len());
        MapResult::start(
            Imap::new(self, Encoded(Direct(f)), items, chunksize.into(), true),
            out,
            no_callbacks(),
        )
    }

    /// [`Pool::map_async_with`] for values of any serde type: the handle
    /// runs `callback` with the results, or `error_callback` with the
    /// first failure, once, when it sees the map end.
    #[allow(clippy::type_complexity)]
    pub fn map_async_values_with<'o, F, A, R, I, CB, EB>(
        &self,
        f: F,
        items: I,
        out: &'o mut [R],
        chunksize: impl Into<Option<usize>>,
        callback: CB,
        error_callback: EB,
    ) -> MapResult<
        '_,
        'o,
        Encoded<Direct<F>>,
        A,
        R,
        core::iter::Take<I::IntoIter>,
        SLOTS,
        BYTES,
        CB,
        EB,
    >
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
        CB: FnOnce(&[R]),
        EB: FnOnce(&TaskError),
    {
        let items = items.into_iter().take(out.len());
        MapResult::start(
            Imap::new(self, Encoded(Direct(f)), items, chunksize.into(), true),
            out,
            Some((callback, error_callback)),
        )
    }

    /// [`Pool::imap`] for values of any serde type: the results in input
    /// order, as an iterator that submits as it goes. `chunksize` is
    /// Python's (`None`: 1).
    pub fn imap_values<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: impl Into<Option<usize>>,
    ) -> Imap<'_, Encoded<Direct<F>>, A, R, I::IntoIter, SLOTS, BYTES>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        let chunksize = Some(chunksize.into().unwrap_or(1));
        Imap::new(self, Encoded(Direct(f)), items.into_iter(), chunksize, true)
    }

    /// [`Pool::imap_unordered`] for values of any serde type: as
    /// [`Pool::imap_values`], results in the order tasks end.
    pub fn imap_unordered_values<F, A, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: impl Into<Option<usize>>,
    ) -> Imap<'_, Encoded<Direct<F>>, A, R, I::IntoIter, SLOTS, BYTES>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = A>,
    {
        let chunksize = Some(chunksize.into().unwrap_or(1));
        Imap::new(
            self,
            Encoded(Direct(f)),
            items.into_iter(),
            chunksize,
            false,
        )
    }

    /// [`Pool::starmap`] for values of any serde type: `f(a, b)` for each
    /// tuple `(a, b)`, in a `Vec`.
    ///
    /// # Errors
    ///
    /// As [`Pool::map_values`].
    pub fn starmap_values<F, Args, R, I>(
        &self,
        f: F,
        items: I,
        chunksize: impl Into<Option<usize>>,
    ) -> Result<Vec<R>, TaskError>
    where
        F: StarFn<Args, R>,
        Args: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
        I: IntoIterator<Item = Args>,
    {
        collect_vec(
            Imap::<Encoded<Star<F>>, Args, R, _, SLOTS, BYTES>::new(
                self,
                Encoded(Star(f)),
                items.into_iter(),
                chunksize.into(),
                true,
            ),
            "Pool::starmap_values",
        )
    }
}
