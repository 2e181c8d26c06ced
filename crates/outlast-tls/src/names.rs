//! The identities a certificate can carry, as DNS names under the cluster's own domain:
//! `node-3.<cluster>.outlast` for node 3, `operator-alice.<cluster>.outlast` for the operator
//! alice. The cluster id is part of every name, so a certificate of one cluster proves nothing
//! in another, even under a shared CA. Names are checked with webpki's own name matching
//! (through rustls), never by parsing certificates here.

/// The top-level label of every name; never resolved, only matched.
const DOMAIN: &str = "outlast";

/// Longest cluster id or operator name, in characters (a DNS label holds 63).
const LABEL_CHARS_MAX: usize = 40;

/// Whether `label` can be a cluster id or an operator name: 1 to 40 of `a-z`, `0-9` and `-`,
/// not starting or ending with `-` (one DNS label).
pub fn valid_cluster_id(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= LABEL_CHARS_MAX
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The name node `id` of cluster `cluster` has in its certificate.
pub fn node_name(cluster: &str, id: u64) -> String {
    debug_assert!(valid_cluster_id(cluster));
    format!("node-{id}.{cluster}.{DOMAIN}")
}

/// The name operator `name` of cluster `cluster` has in its certificate.
pub fn operator_name(cluster: &str, name: &str) -> String {
    debug_assert!(valid_cluster_id(cluster) && valid_cluster_id(name));
    format!("operator-{name}.{cluster}.{DOMAIN}")
}

/// The name every node of cluster `cluster` has in its certificate besides its own: for a
/// caller that needs a node of the cluster, not a particular one (an operator's tool given an
/// address).
pub fn any_node_name(cluster: &str) -> String {
    debug_assert!(valid_cluster_id(cluster));
    format!("nodes.{cluster}.{DOMAIN}")
}

/// Who a certificate is for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Identity {
    /// A node, by id.
    Node(u64),
    /// Some node of the cluster (every node's certificate proves it too).
    AnyNode,
    /// An operator, by name.
    Operator(String),
}

impl Identity {
    /// The DNS name that proves this identity in cluster `cluster`.
    pub fn name(&self, cluster: &str) -> String {
        match self {
            Identity::Node(id) => node_name(cluster, *id),
            Identity::AnyNode => any_node_name(cluster),
            Identity::Operator(name) => operator_name(cluster, name),
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Node(id) => write!(f, "node {id}"),
            Identity::AnyNode => write!(f, "a node"),
            Identity::Operator(name) => write!(f, "operator {name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_cluster_and_only_dns_label_characters_are_ids() {
        assert_eq!(node_name("c0ffee", 3), "node-3.c0ffee.outlast");
        assert_eq!(operator_name("c0ffee", "alice"), "operator-alice.c0ffee.outlast");
        assert_eq!(Identity::Node(3).name("c0ffee"), node_name("c0ffee", 3));
        assert_eq!(Identity::AnyNode.name("c0ffee"), "nodes.c0ffee.outlast");
        for good in ["a", "lab", "c0ffee-2", &"x".repeat(40)] {
            assert!(valid_cluster_id(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a.b", "a b", "é", &"x".repeat(41)] {
            assert!(!valid_cluster_id(bad), "{bad}");
        }
    }
}
