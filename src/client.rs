//! [`Client`]: one cheap handle to an etcd cluster.

use crate::config::Config;
use crate::error::Result;
use crate::transport::{RawChannel, Transport};

/// A connection to an etcd cluster. Clones are cheap and share
/// connections; every method takes `&self`, so one client serves a whole
/// program.
///
/// ```no_run
/// # async fn demo() -> Result<(), etcd_raw::Error> {
/// let client = etcd_raw::Client::connect(["127.0.0.1:2379"]).await?;
/// client.put("greeting", "hello").await?;
/// let response = client.get("greeting").await?;
/// assert_eq!(response.kvs()[0].value_str()?, "hello");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) transport: Transport,
    /// The task that owns this client's Watch stream, started on first use.
    pub(crate) watch_hub: crate::watch::HubHandle,
    /// The task that keeps this client's leases alive, started on first use.
    pub(crate) lessor: crate::lease::Lessor,
    /// The key prefix of this view (see [`Client::with_namespace`]).
    pub(crate) namespace: crate::namespace::Namespace,
}

impl Client {
    /// Connects with default settings (see [`Config`]).
    pub async fn connect<I, S>(endpoints: I) -> Result<Client>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Client::new(Config::new(endpoints)).await
    }

    /// Connects with `config`: returns once one endpoint answers, or fails
    /// with [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) naming
    /// every endpoint tried when none does within the dial timeout. Bad
    /// settings fail at once with
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument).
    pub async fn new(config: Config) -> Result<Client> {
        Ok(Client {
            transport: Transport::connect(&config).await?,
            watch_hub: Default::default(),
            lessor: Default::default(),
            namespace: Default::default(),
        })
    }

    /// The endpoints this client uses: the ones it was given, or the
    /// voting members' client URLs once it has synced them.
    pub fn endpoints(&self) -> Vec<String> {
        self.transport.endpoints()
    }

    /// Replaces the endpoint list (Go's `SetEndpoints`): new endpoints are
    /// dialed; one left out takes no new call, its calls in flight get the
    /// rest of their deadline, and then the streams on it (watches,
    /// keepalives, observations) reopen on another endpoint from where they
    /// stopped, so nothing is lost or repeated.
    ///
    /// ```no_run
    /// # async fn demo(client: etcd_raw::Client) -> Result<(), etcd_raw::Error> {
    /// client.set_endpoints(["http://10.0.0.4:2379", "http://10.0.0.5:2379"])?;
    /// client.add_endpoint("http://10.0.0.6:2379")?;
    /// client.remove_endpoint("http://10.0.0.4:2379")?;
    /// # Ok(()) }
    /// ```
    pub fn set_endpoints<I, S>(&self, endpoints: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let endpoints: Vec<String> = endpoints.into_iter().map(Into::into).collect();
        self.transport.set_endpoints(&endpoints)
    }

    /// Adds one endpoint (or brings a removed one back).
    pub fn add_endpoint(&self, endpoint: impl Into<String>) -> Result<()> {
        self.transport.add_endpoint(&endpoint.into())
    }

    /// Takes one endpoint out, as [`set_endpoints`](Self::set_endpoints)
    /// does; the last endpoint cannot be removed.
    pub fn remove_endpoint(&self, endpoint: impl AsRef<str>) -> Result<()> {
        self.transport.remove_endpoint(endpoint.as_ref())
    }

    /// Makes the endpoint list the client URLs of the cluster's voting
    /// members, now (Go's `Sync`; [`Config::auto_sync_interval`] does it
    /// periodically). Members that joined are added, members removed are
    /// no longer used, learners are left out.
    ///
    /// The list is asked for linearizably. etcd 3.4 has no such option and
    /// answers from the asked member's own view, which can trail a member
    /// change by a moment; sync again to see it there.
    pub async fn sync(&self) -> Result<()> {
        self.transport.sync_endpoints().await
    }

    /// Closes the client and every clone of it (Go's `Close`): connections
    /// end now; watches, keepalives, observations and calls still running
    /// end with [`ErrorKind::ClientClosed`](crate::ErrorKind::ClientClosed)
    /// (a write cut off this way has an unknown outcome); calls made after
    /// it fail at once with that kind. Leases kept alive by the client are
    /// no longer renewed and expire after their TTL; revoke them first to
    /// end them now.
    ///
    /// Dropping the last clone of a client without closing it ends its
    /// connections and background tasks too, once the watches, keepalives
    /// and calls that hold it are gone; `close` does it at once.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), etcd_raw::Error> {
    /// let client = etcd_raw::Client::connect(["127.0.0.1:2379"]).await?;
    /// let mut watch = client.watch("config/").prefix().await?;
    /// client.close();
    /// assert!(client.get("config/x").await.is_err());
    /// assert!(watch.message().await.is_some_and(|m| m.is_err()));
    /// # Ok(()) }
    /// ```
    pub fn close(&self) {
        self.transport.close();
    }

    /// Whether [`close`](Self::close) was called on this client or a clone.
    pub fn is_closed(&self) -> bool {
        self.transport.is_closed()
    }

    /// A view of this client under the key prefix `prefix` (Go's
    /// `namespace.NewKV`, `NewWatcher` and `NewLease` in one): every key it
    /// sends is stored as `prefix + key`, and every key it answers with comes
    /// back without `prefix`. The view shares this client's connections,
    /// watches and leases; a view of a view nests (the prefixes join).
    ///
    /// Inside the view:
    /// - gets, puts, deletes, transactions (compares, operations and their
    ///   answers, nested ones too), watches and `get(..).stream()` pages work
    ///   on `prefix + key`; a prefix or `from_key` range stops at the end of
    ///   the namespace, and an empty key with `prefix()` or `from_key()` is
    ///   the whole namespace, never the keyspace above it (as in Go, the key
    ///   equal to `prefix` itself is not in the view: it could not write it);
    /// - lock and election names are under the prefix, and the lock keys and
    ///   leader keys answered are without it (give them back to the same
    ///   view);
    /// - `time_to_live(..).keys()` lists the lease's keys under the prefix,
    ///   without it, and leaves out its keys elsewhere;
    /// - the recipes in [`concurrency`](crate::concurrency) and
    ///   [`sync_prefix`](Self::sync_prefix) given the view work inside it.
    ///
    /// A key in an answer that is not under the prefix (which a request in
    /// the namespace cannot reach) is handed out whole. Leases, cluster and
    /// maintenance calls have no keys and are the same as on this client;
    /// auth role permissions name keys of the whole keyspace and are not
    /// prefixed (as in Go), nor is anything sent through
    /// [`raw_channel`](Self::raw_channel).
    ///
    /// ```no_run
    /// # async fn demo(client: etcd_raw::Client) -> Result<(), etcd_raw::Error> {
    /// let app = client.with_namespace("apps/billing/");
    /// app.put("config/rate", "7").await?; // stored as apps/billing/config/rate
    /// let all = app.get("").prefix().await?; // every key under apps/billing/, and nothing else
    /// assert_eq!(all.kvs()[0].key(), b"config/rate");
    /// assert_eq!(app.namespace(), b"apps/billing/");
    /// let eu = app.with_namespace("eu/"); // apps/billing/eu/
    /// assert_eq!(eu.namespace(), b"apps/billing/eu/");
    /// # Ok(()) }
    /// ```
    pub fn with_namespace(&self, prefix: impl crate::IntoBytes) -> Client {
        let mut view = self.clone();
        view.namespace = self.namespace.join(prefix.into_bytes());
        view
    }

    /// The key prefix of this client (see
    /// [`with_namespace`](Self::with_namespace)); empty for none.
    pub fn namespace(&self) -> &[u8] {
        self.namespace.as_bytes()
    }

    /// A channel for the raw generated stubs in [`crate::pb`], over this
    /// client's connections, deadlines and metadata. Requests on it are sent
    /// as written: a [namespace](Self::with_namespace) does not apply.
    pub fn raw_channel(&self) -> RawChannel {
        RawChannel { transport: self.transport.clone() }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("endpoints", &self.transport.endpoints()).finish()
    }
}
