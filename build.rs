//! Compiles `proto/` into Rust with prost and tonic, parsing the protos in
//! Rust (protox) so that no system `protoc` is needed.

const PROTOS: &[&str] = &[
    "mvccpb/kv.proto",
    "authpb/auth.proto",
    "etcdserverpb/rpc.proto",
    "v3lockpb/v3lock.proto",
    "v3electionpb/v3election.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files: Vec<String> = PROTOS.iter().map(|p| format!("proto/{p}")).collect();
    let descriptors = protox::compile(&files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .build_transport(false)
        // Keys and values are handed out without copying them out of the frame.
        .bytes(".")
        .compile_fds(descriptors)?;
    Ok(())
}
