//! Failure-domain survival: which losses of providers, regions or zones the voters survive.
//!
//! A loss is survived when the voters left still form a majority of the whole voter set.
//! Pure functions of the membership; `outlast plan` prints them and `--init` refuses a voter
//! set that one provider's loss would stop.

use std::collections::{BTreeMap, BTreeSet};

use crate::types::{NodeId, NodeInfo};

/// A kind of failure domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Domain {
    /// A cloud provider.
    Provider,
    /// A region.
    Region,
    /// A zone.
    Zone,
}

impl Domain {
    /// All kinds, widest first.
    pub const ALL: [Domain; 3] = [Domain::Provider, Domain::Region, Domain::Zone];

    /// The domain's name.
    pub fn name(self) -> &'static str {
        match self {
            Domain::Provider => "provider",
            Domain::Region => "region",
            Domain::Zone => "zone",
        }
    }

    fn label(self, node: &NodeInfo) -> &str {
        match self {
            Domain::Provider => &node.provider,
            Domain::Region => &node.region,
            Domain::Zone => &node.zone,
        }
    }
}

/// One loss scenario and its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loss {
    /// The kind of domain lost.
    pub domain: Domain,
    /// The domains lost (one or two labels).
    pub lost: Vec<String>,
    /// Voters left.
    pub voters_left: usize,
    /// Voters in all.
    pub voters: usize,
}

impl Loss {
    /// Whether the voters left are a majority.
    pub fn survived(&self) -> bool {
        self.voters_left * 2 > self.voters
    }
}

/// Every single and double loss of each kind of domain, in a stable order.
pub fn losses(voters: &BTreeMap<NodeId, NodeInfo>) -> Vec<Loss> {
    let mut out = Vec::new();
    for domain in Domain::ALL {
        let labels: BTreeSet<&str> = voters.values().map(|n| domain.label(n)).collect();
        let labels: Vec<&str> = labels.into_iter().collect();
        let left = |lost: &[&str]| voters.values().filter(|n| !lost.contains(&domain.label(n))).count();
        for (i, a) in labels.iter().enumerate() {
            out.push(Loss { domain, lost: vec![a.to_string()], voters_left: left(&[a]), voters: voters.len() });
            for b in &labels[i + 1..] {
                let lost = vec![a.to_string(), b.to_string()];
                out.push(Loss { domain, lost, voters_left: left(&[a, b]), voters: voters.len() });
            }
        }
    }
    out
}

/// The providers whose loss alone the voters would not survive.
pub fn fatal_provider_losses(voters: &BTreeMap<NodeId, NodeInfo>) -> Vec<String> {
    losses(voters)
        .into_iter()
        .filter(|l| l.domain == Domain::Provider && l.lost.len() == 1 && !l.survived())
        .flat_map(|l| l.lost)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(provider: &str, region: &str, zone: &str) -> NodeInfo {
        NodeInfo { provider: provider.into(), region: region.into(), zone: zone.into(), ..NodeInfo::default() }
    }

    #[test]
    fn single_and_double_losses_are_judged_by_majority() {
        let voters: BTreeMap<NodeId, NodeInfo> = [
            (1, node("aws", "us-east", "a")),
            (2, node("aws", "us-east", "b")),
            (3, node("gcp", "eu-west", "c")),
            (4, node("gcp", "eu-west", "d")),
            (5, node("azure", "ap-south", "e")),
        ]
        .into();
        let all = losses(&voters);
        let find = |domain, lost: &[&str]| all.iter().find(|l| l.domain == domain && l.lost == lost).unwrap().clone();
        assert!(find(Domain::Provider, &["aws"]).survived());
        assert!(!find(Domain::Provider, &["aws", "gcp"]).survived());
        assert!(find(Domain::Provider, &["aws", "azure"]).voters_left == 2);
        assert!(find(Domain::Zone, &["a", "c"]).survived());
        assert!(fatal_provider_losses(&voters).is_empty());
        let lopsided: BTreeMap<NodeId, NodeInfo> =
            [(1, node("aws", "r", "a")), (2, node("aws", "r", "b")), (3, node("gcp", "s", "c"))].into();
        assert_eq!(fatal_provider_losses(&lopsided), vec!["aws".to_string()]);
    }
}
