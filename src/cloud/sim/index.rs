//! Where the simulator's images and snapshots are, by id and by tag. EC2 answers a Describe
//! filtered by tag or id from its own indexes; a simulator that scanned every snapshot's tags
//! for each find spent an eighth of a 1,000-tier run doing it (4,000 snapshots, 1,000 finds).
//!
//! An index is built when a Describe first needs it and dropped by every change to the list it
//! indexes (`State`'s pushes, deletes and tag changes), so it is never stale. It only narrows:
//! every candidate it gives is still checked against the whole query, and the answer keeps the
//! list's order.

use std::collections::HashMap;

use crate::cloud::{Image, Snapshot, Tags};

/// What an index is of: items with an id and tags.
pub(super) trait Indexed {
    fn id(&self) -> &str;
    fn tags(&self) -> &Tags;
}

impl Indexed for Image {
    fn id(&self) -> &str {
        &self.id
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

impl Indexed for Snapshot {
    fn id(&self) -> &str {
        &self.id
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

#[derive(Debug, Default)]
pub(super) struct Index {
    by_id: HashMap<String, usize>,
    /// Tag key, then value, to the positions of what carries it, in order.
    by_tag: HashMap<String, HashMap<String, Vec<usize>>>,
}

impl Index {
    /// The index of `items`, by their positions.
    pub(super) fn of<T: Indexed>(items: &[T]) -> Index {
        let mut index = Index::default();
        for (at, (id, tags)) in items.iter().map(|i| (i.id(), i.tags())).enumerate() {
            // Ids are unique: a loaded world that repeats one is refused (`World::repeated`),
            // and seeding drops repeats (`World::dedup`).
            index.by_id.entry(id.to_string()).or_insert(at);
            for (k, v) in tags {
                index
                    .by_tag
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default()
                    .push(at);
            }
        }
        index
    }

    /// The positions that may answer a query for `ids` (any, if empty) and `tags`: those of
    /// the ids, or those carrying the rarest of the tags, in order. `None`: any may.
    pub(super) fn candidates(&self, ids: &[String], tags: &Tags) -> Option<Vec<usize>> {
        if !ids.is_empty() {
            let mut at: Vec<usize> = ids
                .iter()
                .filter_map(|id| self.by_id.get(id).copied())
                .collect();
            at.sort_unstable();
            at.dedup();
            return Some(at);
        }
        tags.iter()
            .map(|(k, v)| {
                self.by_tag
                    .get(k)
                    .and_then(|values| values.get(v))
                    .map_or(&[][..], Vec::as_slice)
            })
            .min_by_key(|at| at.len())
            .map(<[usize]>::to_vec)
    }

    /// Where `id` is.
    pub(super) fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(&'static str, Tags);

    impl Indexed for Item {
        fn id(&self) -> &str {
            self.0
        }
        fn tags(&self) -> &Tags {
            &self.1
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn candidates_are_the_ids_or_the_rarest_tag_in_order() {
        let index = Index::of(&[
            Item("snap-1", tags(&[("App", "web"), ("Tier", "1")])),
            Item("snap-2", tags(&[("App", "web"), ("Tier", "2")])),
            Item("snap-3", tags(&[("App", "db")])),
            Item("snap-4", tags(&[("App", "web"), ("Tier", "1")])),
        ]);
        assert_eq!(
            index.candidates(&[], &tags(&[("App", "web"), ("Tier", "1")])),
            Some(vec![0, 3])
        );
        assert_eq!(
            index.candidates(&[], &tags(&[("App", "none")])),
            Some(vec![])
        );
        assert_eq!(index.candidates(&[], &Tags::new()), None);
        let ids = ["snap-4".to_string(), "snap-x".into(), "snap-2".into()];
        assert_eq!(index.candidates(&ids, &Tags::new()), Some(vec![1, 3]));
        assert_eq!(index.position("snap-3"), Some(2));
    }
}
