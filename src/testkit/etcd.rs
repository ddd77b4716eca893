//! A single-member cluster.

use std::ops::{Deref, DerefMut};

use super::cluster::{Cluster, ClusterBuilder};
use super::error::TestkitError;

/// One etcd server: a [`Cluster`] of one member, which it derefs to.
#[derive(Debug)]
pub struct Etcd {
    cluster: Cluster,
}

impl Etcd {
    /// Starts one etcd with the located binary and waits until it is healthy.
    pub fn start() -> Result<Etcd, TestkitError> {
        Etcd::start_with(Cluster::builder())
    }

    /// Starts one etcd with the builder's binary, flags and timeout (its member count is ignored).
    pub fn start_with(builder: ClusterBuilder) -> Result<Etcd, TestkitError> {
        Ok(Etcd { cluster: builder.members(1).start()? })
    }

    /// The client URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.cluster.member(0).client_url()
    }
}

impl Deref for Etcd {
    type Target = Cluster;

    fn deref(&self) -> &Cluster {
        &self.cluster
    }
}

impl DerefMut for Etcd {
    fn deref_mut(&mut self) -> &mut Cluster {
        &mut self.cluster
    }
}
