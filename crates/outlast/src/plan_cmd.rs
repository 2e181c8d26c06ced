//! `outlast plan cluster.toml`: which losses of providers, regions and zones the voters survive;
//! and `outlast config check FILE…`: whether node files describe one cluster that can start.

use std::path::Path;
use std::process::ExitCode;

use outlast_cluster::config::ClusterFile;
use outlast_cluster::topology::{fatal_provider_losses, losses, Domain};

pub fn run(path: &Path) -> ExitCode {
    let cluster = match ClusterFile::load(path) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let voters = cluster.members();
    println!("{} voters; a loss is survived while a majority ({}) remains.", voters.len(), voters.len() / 2 + 1);
    for (id, node) in &voters {
        println!("  node {id}: provider {}, region {}, zone {}", node.provider, node.region, node.zone);
    }
    let all = losses(&voters);
    for domain in Domain::ALL {
        for width in [1, 2] {
            let rows: Vec<_> = all.iter().filter(|l| l.domain == domain && l.lost.len() == width).collect();
            if rows.is_empty() {
                continue;
            }
            let kind = if width == 1 { "single" } else { "double" };
            println!("\n{kind} {} losses:", domain.name());
            for loss in rows {
                let verdict = if loss.survived() { "survives" } else { "STOPS" };
                println!(
                    "  lose {:<30} {} of {} voters left  {verdict}",
                    loss.lost.join(" + "),
                    loss.voters_left,
                    loss.voters
                );
            }
        }
    }
    let fatal = fatal_provider_losses(&voters);
    if fatal.is_empty() {
        println!("\nverdict: survives the loss of any one provider");
        ExitCode::SUCCESS
    } else {
        println!("\nverdict: UNSAFE — losing {} stops the cluster", fatal.join(" or "));
        ExitCode::from(1)
    }
}

/// `outlast config check`: every file on its own, then all together
/// (`outlast_cluster::config_check`); the findings, each with what to change.
pub fn check(paths: &[std::path::PathBuf]) -> ExitCode {
    let mut loaded = Vec::new();
    let mut failed = false;
    for path in paths {
        match outlast_cluster::config::NodeConfig::load(path) {
            Ok(config) => loaded.push((path.clone(), config)),
            Err(error) => {
                println!("{error}");
                failed = true;
            }
        }
    }
    if failed {
        println!("verdict: REFUSED (fix the files above, then check again)");
        return ExitCode::from(1);
    }
    let findings = outlast_cluster::config_check::check_cluster(&loaded);
    for finding in &findings {
        println!("{}: {}", finding.file.display(), finding.problem);
    }
    if findings.is_empty() {
        let first = &loaded[0].1;
        println!(
            "verdict: OK: {} file(s), {} member(s), heartbeat {} ms, election timeout {:?} ms",
            loaded.len(),
            first.peers.len(),
            first.heartbeat_ms,
            first.election_timeout_ms
        );
        ExitCode::SUCCESS
    } else {
        println!("verdict: REFUSED ({} finding(s))", findings.len());
        ExitCode::from(1)
    }
}
