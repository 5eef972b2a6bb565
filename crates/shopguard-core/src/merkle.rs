//! The audit log's Merkle tree, as RFC 6962 (certificate transparency) defines it: SHA-256,
//! leaves hashed as `H(0x00 ‖ data)`, interior nodes as `H(0x01 ‖ left ‖ right)`, and a tree of
//! `n` leaves split at the largest power of two below `n`.
//!
//! What is here is pure: hashing, the growing right edge of the tree ([`Frontier`]), proofs
//! built from any [`NodeSource`] (a store of the hashes of perfect, aligned subtrees), and the
//! verification of inclusion and consistency proofs (the algorithms of RFC 9162 §2.1.3.2 and
//! §2.1.4.2, written afresh here).
//!
//! Terms: a *perfect subtree* at `(level, index)` covers leaves
//! `index·2^level .. (index+1)·2^level`; level 0 is the leaves themselves.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The hash of a leaf holding `data`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(data);
    hasher.finalize().into()
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The largest power of two strictly below `n` (`n` ≥ 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Where the hashes of perfect subtrees come from (a file per level, or memory in tests).
pub trait NodeSource {
    /// Why a node could not be read.
    type Error;
    /// The hash of the perfect subtree at `(level, index)`.
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError<E> {
    /// The request does not make sense for the tree (an index past its end, a first size
    /// larger than the second).
    #[error("{0}")]
    OutOfRange(String),
    /// The node source failed.
    #[error("reading the tree: {0}")]
    Source(E),
}

/// The hash of the leaves `start .. start + size` as a tree of their own (`MTH` of that
/// range). Perfect aligned ranges are read from `source`; others are split.
pub fn range_hash<S: NodeSource>(source: &S, start: u64, size: u64) -> Result<Hash, S::Error> {
    if size == 0 {
        return Ok(empty_root());
    }
    if size.is_power_of_two() && start.is_multiple_of(size) {
        return source.node(size.trailing_zeros(), start / size);
    }
    let k = split_point(size);
    let left = range_hash(source, start, k)?;
    let right = range_hash(source, start + k, size - k)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree of the first `size` leaves.
pub fn root<S: NodeSource>(source: &S, size: u64) -> Result<Hash, S::Error> {
    range_hash(source, 0, size)
}

/// The audit path of leaf `index` in the tree of the first `size` leaves, leaf side first.
pub fn inclusion_proof<S: NodeSource>(
    source: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::OutOfRange(format!(
            "entry {index} is not in a tree of {size} entries"
        )));
    }
    let mut path = Vec::new();
    path_of(source, index, 0, size, &mut path).map_err(ProofError::Source)?;
    Ok(path)
}

/// Appends the path of leaf `index` (relative to `start`) in the subtree `start .. start+size`.
fn path_of<S: NodeSource>(
    source: &S,
    index: u64,
    start: u64,
    size: u64,
    path: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    if size <= 1 {
        return Ok(());
    }
    let k = split_point(size);
    if index < k {
        path_of(source, index, start, k, path)?;
        path.push(range_hash(source, start + k, size - k)?);
    } else {
        path_of(source, index - k, start + k, size - k, path)?;
        path.push(range_hash(source, start, k)?);
    }
    Ok(())
}

/// The proof that the tree of the first `old_size` leaves is a prefix of the tree of the
/// first `new_size` leaves.
pub fn consistency_proof<S: NodeSource>(
    source: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old_size > new_size {
        return Err(ProofError::OutOfRange(format!(
            "a tree of {old_size} entries cannot be a prefix of one of {new_size}"
        )));
    }
    let mut proof = Vec::new();
    if old_size > 0 && old_size < new_size {
        subproof(source, old_size, 0, new_size, true, &mut proof).map_err(ProofError::Source)?;
    }
    Ok(proof)
}

fn subproof<S: NodeSource>(
    source: &S,
    old_size: u64,
    start: u64,
    size: u64,
    whole_old_tree: bool,
    proof: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    if old_size == size {
        if !whole_old_tree {
            proof.push(range_hash(source, start, size)?);
        }
        return Ok(());
    }
    let k = split_point(size);
    if old_size <= k {
        subproof(source, old_size, start, k, whole_old_tree, proof)?;
        proof.push(range_hash(source, start + k, size - k)?);
    } else {
        subproof(source, old_size - k, start + k, size - k, false, proof)?;
        proof.push(range_hash(source, start, k)?);
    }
    Ok(())
}

/// Whether `proof` shows that the leaf with hash `leaf` is entry `index` of the tree of
/// `size` entries whose root is `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut position, mut last) = (index, size - 1);
    let mut hash = *leaf;
    for sibling in proof {
        if last == 0 {
            return false;
        }
        if position & 1 == 1 || position == last {
            hash = node_hash(sibling, &hash);
            // A right-edge node without a right sibling: climb while it is a left child.
            if position & 1 == 0 {
                while position & 1 == 0 && position != 0 {
                    position >>= 1;
                    last >>= 1;
                }
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        position >>= 1;
        last >>= 1;
    }
    last == 0 && hash == *root
}

/// Whether `proof` shows that the tree of `old_size` entries with root `old_root` is a prefix
/// of the tree of `new_size` entries with root `new_root`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        // Every tree extends the empty one.
        return proof.is_empty();
    }
    let mut nodes: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        nodes.push(*old_root);
    }
    nodes.extend_from_slice(proof);
    let Some((first, rest)) = nodes.split_first() else {
        return false;
    };
    let (mut position, mut last) = (old_size - 1, new_size - 1);
    while position & 1 == 1 {
        position >>= 1;
        last >>= 1;
    }
    let (mut old_hash, mut new_hash) = (*first, *first);
    for node in rest {
        if last == 0 {
            return false;
        }
        if position & 1 == 1 || position == last {
            old_hash = node_hash(node, &old_hash);
            new_hash = node_hash(node, &new_hash);
            if position & 1 == 0 {
                while position & 1 == 0 && position != 0 {
                    position >>= 1;
                    last >>= 1;
                }
            }
        } else {
            new_hash = node_hash(&new_hash, node);
        }
        position >>= 1;
        last >>= 1;
    }
    last == 0 && old_hash == *old_root && new_hash == *new_root
}

/// The right edge of a growing tree: the roots of its perfect subtrees, largest first. Enough
/// to append leaves and to compute the root, in O(log n) memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// `(level, hash)`, levels strictly decreasing.
    peaks: Vec<(u32, Hash)>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Rebuilds the frontier of a tree of `size` leaves from its perfect subtrees.
    pub fn from_source<S: NodeSource>(source: &S, size: u64) -> Result<Frontier, S::Error> {
        let mut peaks = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            let width = 1u64 << level;
            if size & width != 0 {
                peaks.push((level, source.node(level, start >> level)?));
                start += width;
            }
        }
        Ok(Frontier { size, peaks })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; calls `completed(level, index, hash)` for the leaf and for every
    /// perfect subtree it completes, lowest first, so that a store can keep them.
    pub fn push(&mut self, leaf: Hash, mut completed: impl FnMut(u32, u64, &Hash)) {
        let mut level = 0u32;
        let mut hash = leaf;
        let mut index = self.size;
        completed(level, index, &hash);
        while let Some(&(peak_level, peak)) = self.peaks.last() {
            if peak_level != level {
                break;
            }
            self.peaks.pop();
            hash = node_hash(&peak, &hash);
            level += 1;
            index >>= 1;
            completed(level, index, &hash);
        }
        self.peaks.push((level, hash));
        self.size += 1;
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(&(_, mut hash)) = peaks.next() else {
            return empty_root();
        };
        for (_, peak) in peaks {
            hash = node_hash(peak, &hash);
        }
        hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// Leaves in memory; perfect subtrees computed from them the slow way.
    struct Leaves(Vec<Hash>);

    /// `MTH` straight from the RFC's definition, for comparison.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    impl NodeSource for Leaves {
        type Error = Infallible;
        fn node(&self, level: u32, index: u64) -> Result<Hash, Infallible> {
            let width = 1usize << level;
            let start = index as usize * width;
            Ok(reference_root(&self.0[start..start + width]))
        }
    }

    fn leaves(n: usize) -> Leaves {
        Leaves(
            (0..n)
                .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
                .collect(),
        )
    }

    #[test]
    fn known_answer_for_the_empty_tree_and_one_leaf() {
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // RFC 6962's leaf hash of the empty string: SHA-256 of the single byte 0x00.
        assert_eq!(
            hex(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    fn hex(hash: &Hash) -> String {
        hash.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    #[test]
    fn frontier_root_and_completed_nodes_match_the_definition() {
        let tree = leaves(70);
        let mut frontier = Frontier::new();
        for (i, leaf) in tree.0.iter().enumerate() {
            frontier.push(*leaf, |level, index, hash| {
                assert_eq!(
                    *hash,
                    tree.node(level, index).unwrap(),
                    "node ({level}, {index})"
                );
            });
            assert_eq!(frontier.root(), reference_root(&tree.0[..=i]));
            assert_eq!(root(&tree, i as u64 + 1).unwrap(), frontier.root());
            assert_eq!(
                Frontier::from_source(&tree, i as u64 + 1).unwrap(),
                frontier
            );
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_a_wrong_one_does_not() {
        let tree = leaves(40);
        for size in 1..=40u64 {
            let root = root(&tree, size).unwrap();
            for index in 0..size {
                let proof = inclusion_proof(&tree, index, size).unwrap();
                let leaf = tree.0[index as usize];
                assert!(verify_inclusion(&leaf, index, size, &proof, &root));
                assert!(!verify_inclusion(
                    &leaf_hash(b"other"),
                    index,
                    size,
                    &proof,
                    &root
                ));
                if size > 1 {
                    assert!(!verify_inclusion(
                        &leaf,
                        (index + 1) % size,
                        size,
                        &proof,
                        &root
                    ));
                    let mut bent = proof.clone();
                    bent[0][0] ^= 1;
                    assert!(!verify_inclusion(&leaf, index, size, &bent, &root));
                }
            }
        }
        assert!(matches!(
            inclusion_proof(&tree, 5, 5),
            Err(ProofError::OutOfRange(_))
        ));
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_wrong_one_does_not() {
        let tree = leaves(40);
        let mut other = leaves(40);
        other.0[3] = leaf_hash(b"changed");
        for new_size in 1..=40u64 {
            let new_root = root(&tree, new_size).unwrap();
            for old_size in 0..=new_size {
                let old_root = root(&tree, old_size).unwrap();
                let proof = consistency_proof(&tree, old_size, new_size).unwrap();
                assert!(
                    verify_consistency(old_size, new_size, &old_root, &new_root, &proof),
                    "{old_size} -> {new_size}"
                );
                if old_size > 3 && old_size < new_size {
                    // A history rewritten before the old checkpoint is caught.
                    let forged_new_root = root(&other, new_size).unwrap();
                    let forged = consistency_proof(&other, old_size, new_size).unwrap();
                    assert!(!verify_consistency(
                        old_size,
                        new_size,
                        &old_root,
                        &forged_new_root,
                        &forged
                    ));
                }
            }
        }
    }
}
