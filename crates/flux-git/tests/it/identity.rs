//! A generated deploy key, authorised on the server, is what fluxd uses.

use flux_git::{DeployKey, SshOptions};
use flux_testbed::git::SshServer;

use crate::{Bed, borrowed, sample_files};

#[tokio::test]
async fn a_generated_deploy_key_once_authorised_can_fetch_and_push() {
    let bed = Bed::new(&borrowed(&sample_files()));
    let sshd = SshServer::start().unwrap();
    let keydir = tempfile::tempdir().unwrap();
    let (key, generated) = DeployKey::load_or_generate(&keydir.path().join("identity")).unwrap();
    assert!(generated);
    let ssh = SshOptions {
        identity: Some(key.path().to_owned()),
        known_hosts: vec![sshd.known_hosts_file().unwrap()],
        ..SshOptions::default()
    };
    let repo = bed.repo_with(&sshd.url(bed.remote.path()), &ssh, |_| {});
    // Not yet added as a deploy key: refused.
    let err = repo.refresh().await.unwrap_err().to_string();
    assert!(err.contains("Permission denied"), "{err}");
    // What `fluxctl identity` shows, added on the server side.
    sshd.authorize(key.public_key()).unwrap();
    repo.ready().await.unwrap();
    repo.move_sync_tag(&bed.head()).await.unwrap();
    assert_eq!(bed.remote.git(&["tag", "--list"]).unwrap(), "flux-sync");
}
