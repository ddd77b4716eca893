//! Authentication: the Auth admin service, and the settings that make a
//! client authenticate ([`Config::auth`](crate::Config::auth) for a user
//! and password, `TlsConfig` for certificates, feature `tls`).
//!
//! Enabling auth needs a `root` user with the `root` role:
//!
//! ```no_run
//! use etcd_raw::auth::PermissionType;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), etcd_raw::Error> {
//!     let client = etcd_raw::Client::connect(["127.0.0.1:2379"]).await?;
//!     client.user_add("root", "root-password").await?;
//!     client.user_grant_role("root", "root").await?;
//!     client.role_add("app").await?;
//!     client.role_grant_permission("app", "app/", PermissionType::Readwrite).prefix().await?;
//!     client.user_add("alice", "alice-password").await?;
//!     client.user_grant_role("alice", "app").await?;
//!     client.auth_enable().await?;
//!
//!     let alice = etcd_raw::Client::new(
//!         etcd_raw::Config::new(client.endpoints()).auth("alice", "alice-password"),
//!     ).await?;
//!     alice.put("app/greeting", "hello").await?;
//!     Ok(())
//! }
//! ```
//!
//! Request builders here never show passwords in `Debug`, and calls that
//! carry one are left out of the wire trace.

use crate::IntoBytes;
use bytes::Bytes;

use crate::call::unary_call;
use crate::pb::authpb::{Permission, UserAddOptions};
use crate::pb::etcdserverpb::{
    AuthDisableRequest, AuthDisableResponse as RawAuthDisableResponse, AuthEnableRequest,
    AuthEnableResponse as RawAuthEnableResponse, AuthRoleAddRequest, AuthRoleAddResponse, AuthRoleDeleteRequest,
    AuthRoleDeleteResponse, AuthRoleGetRequest, AuthRoleGetResponse, AuthRoleGrantPermissionRequest,
    AuthRoleGrantPermissionResponse, AuthRoleListRequest, AuthRoleListResponse, AuthRoleRevokePermissionRequest,
    AuthRoleRevokePermissionResponse, AuthStatusRequest, AuthStatusResponse as RawAuthStatusResponse,
    AuthUserAddRequest, AuthUserAddResponse, AuthUserChangePasswordRequest, AuthUserChangePasswordResponse,
    AuthUserDeleteRequest, AuthUserDeleteResponse, AuthUserGetRequest, AuthUserGetResponse, AuthUserGrantRoleRequest,
    AuthUserGrantRoleResponse, AuthUserListRequest, AuthUserListResponse, AuthUserRevokeRoleRequest,
    AuthUserRevokeRoleResponse,
};
use crate::transport::rpc;
use crate::Client;

#[cfg(feature = "tls")]
pub use crate::config::TlsConfig;
pub use crate::pb::authpb::permission::Type as PermissionType;

impl Client {
    /// Turns authentication on (Go's `AuthEnable`); needs a `root` user
    /// with the `root` role.
    pub fn auth_enable(&self) -> AuthEnable {
        AuthEnable::new(self.clone(), AuthEnableRequest {})
    }

    /// Turns authentication off (Go's `AuthDisable`); needs root.
    pub fn auth_disable(&self) -> AuthDisable {
        AuthDisable::new(self.clone(), AuthDisableRequest {})
    }

    /// Whether auth is on, and the auth store's revision (Go's
    /// `AuthStatus`; etcd 3.5+, 3.4 answers Unimplemented). With auth on,
    /// 3.5 and 3.6 answer only root
    /// ([`PermissionDenied`](crate::ErrorKind::PermissionDenied), or
    /// [`UserEmpty`](crate::ErrorKind::UserEmpty) without a token); 3.7
    /// answers any caller, even one without a token.
    pub fn auth_status(&self) -> AuthStatus {
        AuthStatus::new(self.clone(), AuthStatusRequest {})
    }

    /// Adds a user (Go's `UserAdd`); `.no_password()` for a user that
    /// logs in only with a client certificate.
    pub fn user_add(&self, name: impl Into<String>, password: impl Into<String>) -> UserAdd {
        let request = AuthUserAddRequest {
            name: name.into(),
            password: password.into(),
            options: Some(UserAddOptions { no_password: false }),
            hashed_password: String::new(),
        };
        UserAdd::new(self.clone(), request)
    }

    /// A user's roles (Go's `UserGet`).
    pub fn user_get(&self, name: impl Into<String>) -> UserGet {
        UserGet::new(self.clone(), AuthUserGetRequest { name: name.into() })
    }

    /// Every user's name (Go's `UserList`).
    pub fn user_list(&self) -> UserList {
        UserList::new(self.clone(), AuthUserListRequest {})
    }

    /// Deletes a user (Go's `UserDelete`).
    pub fn user_delete(&self, name: impl Into<String>) -> UserDelete {
        UserDelete::new(self.clone(), AuthUserDeleteRequest { name: name.into() })
    }

    /// Sets a user's password (Go's `UserChangePassword`).
    pub fn user_change_password(&self, name: impl Into<String>, password: impl Into<String>) -> UserChangePassword {
        let request = AuthUserChangePasswordRequest {
            name: name.into(),
            password: password.into(),
            hashed_password: String::new(),
        };
        UserChangePassword::new(self.clone(), request)
    }

    /// Grants `role` to `user` (Go's `UserGrantRole`).
    pub fn user_grant_role(&self, user: impl Into<String>, role: impl Into<String>) -> UserGrantRole {
        UserGrantRole::new(self.clone(), AuthUserGrantRoleRequest { user: user.into(), role: role.into() })
    }

    /// Revokes `role` from `user` (Go's `UserRevokeRole`).
    pub fn user_revoke_role(&self, user: impl Into<String>, role: impl Into<String>) -> UserRevokeRole {
        UserRevokeRole::new(self.clone(), AuthUserRevokeRoleRequest { name: user.into(), role: role.into() })
    }

    /// Adds a role (Go's `RoleAdd`).
    pub fn role_add(&self, name: impl Into<String>) -> RoleAdd {
        RoleAdd::new(self.clone(), AuthRoleAddRequest { name: name.into() })
    }

    /// A role's permissions (Go's `RoleGet`).
    pub fn role_get(&self, name: impl Into<String>) -> RoleGet {
        RoleGet::new(self.clone(), AuthRoleGetRequest { role: name.into() })
    }

    /// Every role's name (Go's `RoleList`).
    pub fn role_list(&self) -> RoleList {
        RoleList::new(self.clone(), AuthRoleListRequest {})
    }

    /// Deletes a role (Go's `RoleDelete`).
    pub fn role_delete(&self, name: impl Into<String>) -> RoleDelete {
        RoleDelete::new(self.clone(), AuthRoleDeleteRequest { role: name.into() })
    }

    /// Lets `role` read, write or both on `key`, or on a range with
    /// `.range_end(..)` / `.prefix()` (Go's `RoleGrantPermission`).
    pub fn role_grant_permission(
        &self,
        role: impl Into<String>,
        key: impl IntoBytes,
        permission: PermissionType,
    ) -> RoleGrantPermission {
        let perm = Permission { perm_type: permission as i32, key: key.into_bytes(), range_end: Bytes::new() };
        RoleGrantPermission::new(self.clone(), AuthRoleGrantPermissionRequest { name: role.into(), perm: Some(perm) })
    }

    /// Takes back the permission of `role` on `key` (or the range set with
    /// `.range_end(..)` / `.prefix()`) (Go's `RoleRevokePermission`).
    pub fn role_revoke_permission(&self, role: impl Into<String>, key: impl IntoBytes) -> RoleRevokePermission {
        let request =
            AuthRoleRevokePermissionRequest { role: role.into(), key: key.into_bytes(), range_end: Bytes::new() };
        RoleRevokePermission::new(self.clone(), request)
    }
}

unary_call! {
    /// Auth enable, from [`Client::auth_enable`].
    AuthEnable: rpc::AUTH_ENABLE, AuthEnableRequest => AuthEnableResponse
}
unary_call! {
    /// Auth disable, from [`Client::auth_disable`].
    AuthDisable: rpc::AUTH_DISABLE, AuthDisableRequest => AuthDisableResponse
}
unary_call! {
    /// Auth status, from [`Client::auth_status`].
    AuthStatus: rpc::AUTH_STATUS, AuthStatusRequest => AuthStatusResponse
}
unary_call! {
    /// A user addition, from [`Client::user_add`].
    UserAdd: rpc::USER_ADD, AuthUserAddRequest => UserAddResponse
}
unary_call! {
    /// A user lookup, from [`Client::user_get`].
    UserGet: rpc::USER_GET, AuthUserGetRequest => UserGetResponse
}
unary_call! {
    /// A user listing, from [`Client::user_list`].
    UserList: rpc::USER_LIST, AuthUserListRequest => UserListResponse
}
unary_call! {
    /// A user deletion, from [`Client::user_delete`].
    UserDelete: rpc::USER_DELETE, AuthUserDeleteRequest => UserDeleteResponse
}
unary_call! {
    /// A password change, from [`Client::user_change_password`].
    UserChangePassword: rpc::USER_CHANGE_PASSWORD, AuthUserChangePasswordRequest => UserChangePasswordResponse
}
unary_call! {
    /// A role grant, from [`Client::user_grant_role`].
    UserGrantRole: rpc::USER_GRANT_ROLE, AuthUserGrantRoleRequest => UserGrantRoleResponse
}
unary_call! {
    /// A role revocation, from [`Client::user_revoke_role`].
    UserRevokeRole: rpc::USER_REVOKE_ROLE, AuthUserRevokeRoleRequest => UserRevokeRoleResponse
}
unary_call! {
    /// A role addition, from [`Client::role_add`].
    RoleAdd: rpc::ROLE_ADD, AuthRoleAddRequest => RoleAddResponse
}
unary_call! {
    /// A role lookup, from [`Client::role_get`].
    RoleGet: rpc::ROLE_GET, AuthRoleGetRequest => RoleGetResponse
}
unary_call! {
    /// A role listing, from [`Client::role_list`].
    RoleList: rpc::ROLE_LIST, AuthRoleListRequest => RoleListResponse
}
unary_call! {
    /// A role deletion, from [`Client::role_delete`].
    RoleDelete: rpc::ROLE_DELETE, AuthRoleDeleteRequest => RoleDeleteResponse
}
unary_call! {
    /// A permission grant, from [`Client::role_grant_permission`].
    RoleGrantPermission: rpc::ROLE_GRANT_PERMISSION, AuthRoleGrantPermissionRequest => RoleGrantPermissionResponse
}
unary_call! {
    /// A permission revocation, from [`Client::role_revoke_permission`].
    RoleRevokePermission: rpc::ROLE_REVOKE_PERMISSION, AuthRoleRevokePermissionRequest => RoleRevokePermissionResponse
}

impl UserAdd {
    /// A user without a password, who authenticates with a client
    /// certificate whose common name is the user name (etcd 3.5+).
    pub fn no_password(mut self) -> Self {
        self.request.password.clear();
        self.request.options = Some(UserAddOptions { no_password: true });
        self
    }
}

impl RoleGrantPermission {
    /// The permission covers `[key, end)` (`end` = `"\0"`: every key from `key` on).
    pub fn range_end(mut self, end: impl IntoBytes) -> Self {
        if let Some(perm) = self.request.perm.as_mut() {
            perm.range_end = end.into_bytes();
        }
        self
    }

    /// The permission covers every key that starts with the key.
    pub fn prefix(mut self) -> Self {
        if let Some(perm) = self.request.perm.as_mut() {
            perm.range_end = Bytes::from(crate::kv::prefix_end(&perm.key));
        }
        self
    }
}

impl RoleRevokePermission {
    /// The permission to take back covers `[key, end)`.
    pub fn range_end(mut self, end: impl IntoBytes) -> Self {
        self.request.range_end = end.into_bytes();
        self
    }

    /// The permission to take back covers every key with the key as prefix.
    pub fn prefix(mut self) -> Self {
        self.request.range_end = Bytes::from(crate::kv::prefix_end(&self.request.key));
        self
    }
}

wire_response! {
    /// The answer to [`Client::auth_enable`].
    AuthEnableResponse(RawAuthEnableResponse)
}
wire_response! {
    /// The answer to [`Client::auth_disable`].
    AuthDisableResponse(RawAuthDisableResponse)
}
wire_response! {
    /// Whether auth is on.
    AuthStatusResponse(RawAuthStatusResponse)
}

impl AuthStatusResponse {
    /// Whether authentication is enabled.
    pub fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// The auth store's revision, bumped by every user, role or
    /// permission change.
    pub fn auth_revision(&self) -> u64 {
        self.0.auth_revision
    }
}

wire_response! {
    /// The answer to [`Client::user_add`].
    UserAddResponse(AuthUserAddResponse)
}
wire_response! {
    /// A user's roles.
    UserGetResponse(AuthUserGetResponse)
}

impl UserGetResponse {
    /// The roles granted to the user.
    pub fn roles(&self) -> &[String] {
        &self.0.roles
    }
}

wire_response! {
    /// Every user.
    UserListResponse(AuthUserListResponse)
}

impl UserListResponse {
    /// The user names.
    pub fn users(&self) -> &[String] {
        &self.0.users
    }
}

wire_response! {
    /// The answer to [`Client::user_delete`].
    UserDeleteResponse(AuthUserDeleteResponse)
}
wire_response! {
    /// The answer to [`Client::user_change_password`].
    UserChangePasswordResponse(AuthUserChangePasswordResponse)
}
wire_response! {
    /// The answer to [`Client::user_grant_role`].
    UserGrantRoleResponse(AuthUserGrantRoleResponse)
}
wire_response! {
    /// The answer to [`Client::user_revoke_role`].
    UserRevokeRoleResponse(AuthUserRevokeRoleResponse)
}
wire_response! {
    /// The answer to [`Client::role_add`].
    RoleAddResponse(AuthRoleAddResponse)
}
wire_response! {
    /// A role's permissions.
    RoleGetResponse(AuthRoleGetResponse)
}

impl RoleGetResponse {
    /// The permissions: key or range, and read/write (`perm_type()` is a
    /// [`PermissionType`]).
    pub fn permissions(&self) -> &[Permission] {
        &self.0.perm
    }
}

wire_response! {
    /// Every role.
    RoleListResponse(AuthRoleListResponse)
}

impl RoleListResponse {
    /// The role names.
    pub fn roles(&self) -> &[String] {
        &self.0.roles
    }
}

wire_response! {
    /// The answer to [`Client::role_delete`].
    RoleDeleteResponse(AuthRoleDeleteResponse)
}
wire_response! {
    /// The answer to [`Client::role_grant_permission`].
    RoleGrantPermissionResponse(AuthRoleGrantPermissionResponse)
}
wire_response! {
    /// The answer to [`Client::role_revoke_permission`].
    RoleRevokePermissionResponse(AuthRoleRevokePermissionResponse)
}
