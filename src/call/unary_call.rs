//! The request builder of a unary call with no options of its own beyond
//! its deadline, as the cluster, maintenance and auth services have many:
//! a struct holding the request, awaited directly, sent through the one
//! request path to any endpoint or to the one it names.

/// `unary_call! { /// doc \n Name: rpc::PATH, RequestType => ResponseWrapper }`; made
/// with `new` it goes to any endpoint, with `on` to the one it names.
macro_rules! unary_call {
    ($(#[$doc:meta])* $name:ident : $rpc:path, $request:ty => $response:ident) => {
        unary_call!(@define $(#[$doc])* $name, $request);

        impl std::future::IntoFuture for $name {
            type Output = $crate::Result<$response>;
            type IntoFuture = $crate::ResponseFuture<$response>;

            fn into_future(self) -> Self::IntoFuture {
                $crate::ResponseFuture::new(async move {
                    let transport = &self.client.transport;
                    // A call made with `on` goes to its endpoint only.
                    let raw = match self.endpoint.as_deref() {
                        Some(endpoint) => {
                            let id = transport.endpoint_id(endpoint)?;
                            transport.unary_on(id, &$rpc, &self.request, self.options.timeout).await?
                        }
                        None => transport.unary(&$rpc, &self.request, self.options.timeout).await?,
                    };
                    Ok(<$response as $crate::convert::WireResponse>::from_raw(raw))
                })
            }
        }
    };
    (@define $(#[$doc:meta])* $name:ident, $request:ty) => {
        $(#[$doc])*
        #[derive(Clone)]
        #[must_use = "a call does nothing until awaited"]
        pub struct $name {
            client: $crate::Client,
            request: $request,
            options: $crate::call::CallOptions,
            endpoint: Option<String>,
        }

        impl $name {
            #[allow(dead_code, reason = "not every call targets an endpoint")]
            pub(crate) fn new(client: $crate::Client, request: $request) -> Self {
                $name { client, request, options: Default::default(), endpoint: None }
            }

            #[allow(dead_code, reason = "only calls that target an endpoint")]
            pub(crate) fn on(client: $crate::Client, endpoint: String, request: $request) -> Self {
                $name { client, request, options: Default::default(), endpoint: Some(endpoint) }
            }

            timeout_setter!();
        }

        // Requests may carry passwords: Debug shows the call, not its message.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("endpoint", &self.endpoint)
                    .field("timeout", &self.options.timeout)
                    .finish_non_exhaustive()
            }
        }
    };
}

pub(crate) use unary_call;
