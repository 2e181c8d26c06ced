//! `outlast cert`: a cluster's certificate authority and the certificates it issues, as files
//! in one directory (`outlast_tls::PkiFiles`). The CA key stays in that directory, with the
//! operator; a node gets the CA certificate and its own certificate and key only.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use outlast_tls::{Authority, Identity, PkiFiles};

#[derive(Subcommand)]
pub enum Action {
    /// Create a new CA for a cluster: ca.pem (give it to every node), ca.key (keep it here).
    Ca {
        /// The cluster's id: 1 to 40 of a-z, 0-9 and '-'; part of every certificate's name.
        #[arg(long)]
        cluster: String,
    },
    /// Issue node ID's certificate (node-ID.pem, node-ID.key), valid for a year.
    Node {
        /// The node's id, as in its configuration.
        #[arg(long)]
        id: u64,
    },
    /// Issue an operator's certificate (operator-NAME.pem, operator-NAME.key), valid for a year.
    Operator {
        /// The operator's name: 1 to 40 of a-z, 0-9 and '-'.
        #[arg(long)]
        name: String,
    },
    /// Issue a server certificate for users' HTTPS (server-NAME.pem, server-NAME.key, named
    /// after the first name), valid for a year: for a lab whose clients trust this CA; in
    /// production use a public CA's certificate for the node's public name.
    Server {
        /// A DNS name (or IP address) users reach the node by; repeat for more.
        #[arg(long = "name", required = true)]
        names: Vec<String>,
    },
}

fn cluster_file(files: &PkiFiles) -> std::path::PathBuf {
    files.dir.join("cluster")
}

pub fn run(dir: &Path, action: Action) -> ExitCode {
    match act(dir, action) {
        Ok(done) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn act(dir: &Path, action: Action) -> Result<String, String> {
    let files = PkiFiles::in_dir(dir);
    let who = match action {
        Action::Ca { cluster } => {
            if files.ca_key().exists() || files.ca_cert().exists() {
                return Err(format!("{} already holds a CA; use another --dir", dir.display()));
            }
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let (ca, ca_pem) = Authority::generate(&cluster)?;
            write(&files.ca_cert(), &ca_pem)?;
            write_private(&files.ca_key(), &ca.key_pem())?;
            write(&cluster_file(&files), &cluster)?;
            return Ok(format!(
                "CA of cluster {cluster}: {} (to every node) and {} (keep it here)",
                files.ca_cert().display(),
                files.ca_key().display()
            ));
        }
        Action::Node { id } if id > 0 => Identity::Node(id),
        Action::Node { .. } => return Err("node ids start at 1".into()),
        Action::Operator { name } => Identity::Operator(name),
        Action::Server { names } => {
            let ca = authority(&files)?;
            let issued = ca.issue_server(&names)?;
            let stem = format!("server-{}", names[0].replace(|c: char| !c.is_ascii_alphanumeric() && c != '.', "-"));
            let (cert, key) = (dir.join(format!("{stem}.pem")), dir.join(format!("{stem}.key")));
            write(&cert, &issued.cert_pem)?;
            write_private(&key, &issued.key_pem)?;
            return Ok(format!(
                "server certificate for {}: {} and {}",
                names.join(", "),
                cert.display(),
                key.display()
            ));
        }
    };
    let ca = authority(&files)?;
    files.write(&who, &ca.issue(&who)?)?;
    let cluster = ca.cluster();
    Ok(format!("{who} of cluster {cluster}: {} and {}", files.cert(&who).display(), files.key(&who).display()))
}

/// The CA kept in `files`' directory.
fn authority(files: &PkiFiles) -> Result<Authority, String> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e} (run `outlast cert ca` first)", path.display()))
    };
    let cluster = read(&cluster_file(files))?.trim().to_string();
    Authority::from_key_pem(&cluster, &read(&files.ca_key())?)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}
