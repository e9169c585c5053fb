//! Reciprocal rank fusion: how the hybrid mode merges the dense and BM25 rankings, done here so
//! both backends fuse identically.
use std::collections::HashMap;

use uuid::Uuid;

use crate::Hit;

/// The RRF constant from Cormack et al. (2009): large enough that the first few ranks of one
/// list do not drown the other list.
pub(crate) const RRF_K: f32 = 60.0;

/// The hits of `rankings` (each best first) ordered by `Σ 1 / (RRF_K + rank)` over the lists
/// each appears in, best first, at most `limit`. Ties keep the order of first appearance, so
/// the result is deterministic.
pub(crate) fn reciprocal_rank_fusion(rankings: Vec<Vec<Hit>>, limit: usize) -> Vec<Hit> {
    let mut fused: Vec<Hit> = Vec::new();
    let mut position: HashMap<Uuid, usize> = HashMap::new();
    for ranking in rankings {
        for (rank, hit) in ranking.into_iter().enumerate() {
            let score = 1.0 / (RRF_K + rank as f32 + 1.0);
            match position.get(&hit.id) {
                Some(&at) => fused[at].score += score,
                None => {
                    position.insert(hit.id, fused.len());
                    fused.push(Hit { score, ..hit });
                }
            }
        }
    }
    // A stable sort keeps first-appearance order among equal scores.
    fused.sort_by(|a, b| b.score.total_cmp(&a.score));
    fused.truncate(limit);
    fused
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{content_hash, Kind, Payload};

    fn hit(n: u128) -> Hit {
        Hit {
            id: Uuid::from_u128(n),
            score: 0.0,
            payload: Payload {
                kind: Kind::Doc,
                cluster: None,
                service: None,
                component: None,
                host: None,
                job_id: None,
                time: None,
                title: String::new(),
                source: String::new(),
                text: String::new(),
                content_hash: content_hash(""),
            },
        }
    }

    fn ids(hits: &[Hit]) -> Vec<u128> {
        hits.iter().map(|hit| hit.id.as_u128()).collect()
    }

    #[test]
    fn a_hit_found_by_both_lists_beats_one_found_first_by_one_list() {
        let dense = vec![hit(1), hit(2), hit(3)];
        let sparse = vec![hit(4), hit(2), hit(5)];
        let fused = reciprocal_rank_fusion(vec![dense, sparse], 10);
        assert_eq!(ids(&fused), vec![2, 1, 4, 3, 5]);
        assert!((fused[0].score - 2.0 / 62.0).abs() < 1e-6);
    }

    #[test]
    fn the_limit_applies_after_fusion() {
        let fused = reciprocal_rank_fusion(vec![vec![hit(1), hit(2)], vec![hit(2)]], 1);
        assert_eq!(ids(&fused), vec![2]);
    }
}
