//! The services of the test command (`scripts/services.sh` starts them and
//! exports `ANOTE_TEST_*`), clients of them, and fresh names.

use uuid::Uuid;

/// The PostgreSQL the tests use unless `ANOTE_TEST_DATABASE_URL` names one.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn var_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The PostgreSQL of the tests: `ANOTE_TEST_DATABASE_URL`, or
/// [`DEFAULT_DATABASE_URL`].
pub fn database_url() -> String {
    var_or("ANOTE_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
}

/// A schema name no other test uses: `t_` and 32 hexadecimal digits (34
/// bytes, so that the suffixes tests add, such as `_read_next`, stay within
/// PostgreSQL's 63).
pub fn fresh_schema() -> String {
    format!("t_{}", Uuid::new_v4().simple())
}

/// The Python with AWS's KPL module (`aws-kinesis-agg`) that the test
/// command installs: `ANOTE_TEST_KPL_PYTHON`, or its place in the default
/// emulator folder.
pub fn kpl_python() -> std::path::PathBuf {
    let home = var_or("HOME", "/tmp");
    let default = format!("{home}/.cache/anote/emulators/kpl-agg/bin/python");
    let path = std::path::PathBuf::from(var_or("ANOTE_TEST_KPL_PYTHON", &default));
    assert!(
        path.exists(),
        "{} is missing: the README's test command installs aws-kinesis-agg there",
        path.display()
    );
    path
}

/// The S3 emulator of the test command.
pub fn s3_endpoint() -> String {
    var_or("ANOTE_TEST_S3_ENDPOINT", "http://127.0.0.1:8014")
}

/// The S3 emulator's access key and secret.
pub fn s3_keys() -> (String, String) {
    (
        var_or("ANOTE_TEST_S3_ACCESS_KEY", "anote-test"),
        var_or("ANOTE_TEST_S3_SECRET_KEY", "anote-test-secret"),
    )
}

/// A client of the S3 emulator.
pub fn s3_client() -> aws_sdk_s3::Client {
    let (access, secret) = s3_keys();
    anote_blob::s3::emulator_client(&s3_endpoint(), &access, &secret)
}

/// The bucket of a test's schema (bucket names take no underscores).
pub fn bucket_of(schema: &str) -> String {
    schema.replace('_', "-")
}

/// Creates the bucket `name` in the S3 emulator, unless it exists.
pub async fn ensure_bucket(name: &str) {
    let client = s3_client();
    if client.head_bucket().bucket(name).send().await.is_err() {
        anote_blob::s3::create_bucket(&client, name)
            .await
            .expect("the S3 emulator creates the bucket (run the README's test command)");
    }
}

/// A new bucket of the S3 emulator; returns its name.
pub async fn fresh_bucket() -> String {
    let name = bucket_of(&fresh_schema());
    ensure_bucket(&name).await;
    name
}

/// The Kinesis emulator of the test command.
pub fn kinesis_endpoint() -> String {
    var_or("ANOTE_TEST_KINESIS_ENDPOINT", "http://127.0.0.1:4568")
}

/// A client of the Kinesis emulator.
pub fn kinesis_client() -> aws_sdk_kinesis::Client {
    anote_kinesis::relay::kinesis::emulator_client(&kinesis_endpoint())
}

/// A new stream of `shards` shards in the Kinesis emulator; returns its
/// name (`t-` and 32 hexadecimal digits).
pub async fn fresh_stream(client: &aws_sdk_kinesis::Client, shards: i32) -> String {
    let name = bucket_of(&fresh_schema());
    anote_kinesis::relay::kinesis::create_stream(client, &name, shards)
        .await
        .expect("the Kinesis emulator answers (run the README's test command)");
    name
}
