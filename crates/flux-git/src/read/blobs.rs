//! Reading blob contents: on a few threads, and from the previous read's
//! contents when the blob has not changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gix::ObjectId;

use crate::error::Error;
use crate::repo::mirror_error;

/// The file contents of the last read, by blob id, so that reading the next
/// commit (usually a few files different) inflates only what changed.
/// Holds at most one read's files, and nothing when they exceed
/// [`BlobCache::MAX_BYTES`]. The reads hand out the same bytes, not copies.
#[derive(Debug, Default)]
pub(crate) struct BlobCache {
    last: Mutex<Arc<HashMap<ObjectId, Arc<[u8]>>>>,
}

/// A blob that was read, or the size of one refused as too large.
type Read = Result<Arc<[u8]>, u64>;

impl BlobCache {
    /// The most file bytes kept between reads.
    pub(crate) const MAX_BYTES: usize = 256 * 1024 * 1024;

    /// Returns the contents of `found`, taking what it can from the last
    /// read and the rest from `read_missing`; then remembers this read.
    pub(super) fn read(
        &self,
        found: Vec<(String, ObjectId)>,
        read_missing: impl FnOnce(Vec<(String, ObjectId)>) -> Result<Vec<(String, Read)>, Error>,
    ) -> Result<Vec<(String, Read)>, Error> {
        let last = Arc::clone(
            &self
                .last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let (hits, missing): (Vec<_>, Vec<_>) =
            found.into_iter().partition(|(_, id)| last.contains_key(id));
        let ids: HashMap<String, ObjectId> = missing.iter().cloned().collect();
        let mut out: Vec<(String, Read)> = Vec::with_capacity(hits.len() + missing.len());
        let mut next: HashMap<ObjectId, Arc<[u8]>> =
            HashMap::with_capacity(hits.len() + missing.len());
        let mut bytes = 0;
        for (rel, id) in hits {
            if let Some(data) = last.get(&id) {
                bytes += data.len();
                out.push((rel, Ok(Arc::clone(data))));
                next.insert(id, Arc::clone(data));
            }
        }
        for (rel, read) in read_missing(missing)? {
            if let (Ok(data), Some(id)) = (&read, ids.get(&rel)) {
                bytes += data.len();
                next.entry(*id).or_insert_with(|| Arc::clone(data));
            }
            out.push((rel, read));
        }
        if bytes > Self::MAX_BYTES {
            next.clear();
        }
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        Ok(out)
    }
}

/// Reads blobs on a few threads (object lookup and inflation dominate the
/// time of a read: 2 threads read 10,000 files in about 60% of the time of
/// one). A blob over `max_size` is refused with its size; it is checked
/// after inflating, because asking gix for an object's header first costs as
/// much as reading it (measured: twice the time for the whole read), and
/// the mirror's fetch has already had to hold every blob anyway.
pub(super) fn read_blobs(
    repo: &gix::Repository,
    dir: &std::path::Path,
    found: Vec<(String, ObjectId)>,
    max_size: u64,
) -> Result<Vec<(String, Read)>, Error> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(found.len().div_ceil(256).max(1));
    let read_one = |repo: &gix::Repository, id: ObjectId| -> Result<Read, Error> {
        let fail = |e: gix::Error| mirror_error(dir, &format!("reading blob {id}"), e);
        let data = repo.find_blob(id).map_err(fail)?.take_data();
        if data.len() as u64 > max_size {
            return Ok(Err(data.len() as u64));
        }
        // A copy of exactly the blob's size: gix's buffer for a delta keeps
        // room for the base and the delta beside it (twice the bytes of the
        // files of a whole read, measured).
        Ok(Ok(Arc::from(data)))
    };
    if threads == 1 {
        return found
            .into_iter()
            .map(|(rel, id)| read_one(repo, id).map(|r| (rel, r)))
            .collect();
    }
    let shared = repo.clone().into_sync();
    let chunk = found.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = found
            .chunks(chunk)
            .map(|part| {
                let shared = &shared;
                let read_one = &read_one;
                scope.spawn(move || {
                    let mut repo = shared.to_thread_local();
                    repo.object_cache_size_if_unset(4 * 1024 * 1024);
                    part.iter()
                        .map(|(rel, id)| read_one(&repo, *id).map(|r| (rel.clone(), r)))
                        .collect::<Result<Vec<_>, Error>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(found.len());
        for w in workers {
            out.extend(
                w.join().map_err(|_| {
                    mirror_error(dir, "reading blobs", "a reader thread panicked")
                })??,
            );
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    #[test]
    fn the_cache_reads_only_blobs_the_last_read_did_not_have() {
        let cache = BlobCache::default();
        let mut asked = Vec::new();
        let read = |found: Vec<(String, ObjectId)>, asked: &mut Vec<Vec<String>>| {
            cache
                .read(found, |missing| {
                    asked.push(missing.iter().map(|(r, _)| r.clone()).collect());
                    Ok(missing
                        .into_iter()
                        .map(|(r, i)| (r, Ok(Arc::from(vec![i.as_bytes()[0]]))))
                        .collect())
                })
                .unwrap()
        };
        let first = read(vec![("a".into(), id(1)), ("b".into(), id(2))], &mut asked);
        assert_eq!(first.len(), 2);
        // b is unchanged, a changed to a new blob, c is new; a link to b's
        // blob under another name is a hit too.
        let second = read(
            vec![
                ("a".into(), id(3)),
                ("b".into(), id(2)),
                ("c".into(), id(4)),
                ("link".into(), id(2)),
            ],
            &mut asked,
        );
        assert_eq!(asked, [vec!["a", "b"], vec!["a", "c"]]);
        // An unchanged blob is handed out again, not copied.
        let bytes_of = |reads: &[(String, Read)], name: &str| {
            reads
                .iter()
                .find(|(r, _)| r == name)
                .and_then(|(_, b)| b.clone().ok())
                .unwrap()
        };
        assert!(Arc::ptr_eq(&bytes_of(&first, "b"), &bytes_of(&second, "b")));
        assert!(Arc::ptr_eq(
            &bytes_of(&first, "b"),
            &bytes_of(&second, "link")
        ));
        let mut got: Vec<(String, Vec<u8>)> = second
            .into_iter()
            .map(|(r, b)| (r, b.unwrap().to_vec()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("a".to_owned(), vec![3]),
                ("b".to_owned(), vec![2]),
                ("c".to_owned(), vec![4]),
                ("link".to_owned(), vec![2])
            ]
        );
        // Only the last read is kept: id 1 is gone.
        read(vec![("a".into(), id(1))], &mut asked);
        assert_eq!(asked.last().unwrap(), &["a"]);
    }
}
