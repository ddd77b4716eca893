//! A password written into an endpoint URL (`http://alice:pw@host:port`):
//! the client logs in with it, and it shows nowhere, not in `Debug` of the
//! client or its config, not in `endpoints()`, not in an error. An empty
//! user name is etcd's `UserEmpty`, found before anything is sent.
#![cfg(feature = "testkit")]

mod support;

use etcd_raw::testkit::Etcd;
use etcd_raw::{Client, Config, ErrorKind};
use support::TestResult;

#[tokio::test]
async fn a_password_in_the_url_logs_in_and_never_shows() -> TestResult {
    let etcd = Etcd::start()?;
    support::enable_auth_with_alice(&etcd.endpoint()).await?;
    let with_password = etcd.endpoint().replace("http://", "http://alice:alice-pw@");

    let config = Config::new([with_password.clone()]);
    let client = Client::new(config.clone()).await?;
    client.put("app/k", "written as alice").await?;
    for shown in [format!("{config:?}"), format!("{client:?}"), format!("{:?}", client.endpoints())] {
        assert!(!shown.contains("alice-pw"), "{shown}");
    }
    assert_eq!(client.endpoints(), [etcd.endpoint()]);
    // Alice may not write outside app/: the token is hers, not root's.
    let denied = client.put("elsewhere", "v").await.err().ok_or("alice wrote outside app/")?;
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied, "{denied}");

    // A wrong password in the URL fails as any wrong password does, and
    // the error does not repeat it.
    let wrong = etcd.endpoint().replace("http://", "http://alice:not-her-pw@");
    let error = Client::new(Config::new([wrong])).await.err().ok_or("logged in with a wrong password")?;
    assert_eq!(error.kind(), ErrorKind::AuthFailed, "{error}");
    assert!(!format!("{error} {error:?}").contains("not-her-pw"), "{error:?}");

    // Other credentials given with auth are refused, not silently chosen.
    let both = Config::new([with_password]).auth("root", "root-pw");
    let error = Client::new(both).await.err().ok_or("two sets of credentials accepted")?;
    assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{error}");
    assert!(!format!("{error:?}").contains("-pw"), "{error:?}");
    Ok(())
}

#[tokio::test]
async fn an_empty_user_name_is_user_empty_before_sending() -> TestResult {
    // Nothing listens on port 1: the refusal comes before any dial.
    let error = Client::new(Config::new(["127.0.0.1:1"]).auth("", "pw")).await.err().ok_or("empty user accepted")?;
    assert_eq!(error.kind(), ErrorKind::UserEmpty, "{error}");
    assert!(!error.is_retryable());
    Ok(())
}
