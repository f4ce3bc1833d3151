//! What `warmstart local up` prints once the stack is ready: its addresses and commands to try.

use super::setup::{BUCKET, CACHE_TABLE, FEATURES_TABLE, REGISTRY_TABLE};
use super::UpArgs;
use std::path::Path;
use std::time::Instant;
use warmstart_devkit::Stores;

pub(super) fn print_banner(
    args: &UpArgs,
    stores: &Stores,
    api: &str,
    lambda_api: &str,
    inits: &[String],
    reco: &Path,
    started: Instant,
) {
    let exe = std::env::current_exe()
        .map(|p| display_path(&p))
        .unwrap_or_else(|_| "warmstart".into());
    let data = args.data_dir.display();
    let json = "-H 'content-type: application/json'";
    println!(
        "\nWarmstart is running locally (ready in {:.1} s). Ctrl-C stops everything.\n\
         \n  API (API Gateway routes)  {api}\
         \n  console (web page)        {api}/  (recommend, valuation, models in a browser)\
         \n  S3                        {s3}  bucket {BUCKET}  (objects in {data}/s3)\
         \n  DynamoDB                  {ddb}  tables {FEATURES_TABLE}, {REGISTRY_TABLE}, {CACHE_TABLE}  ({data}/dynamodb.sqlite)\
         \n  functions                 {fns}\
         \n  Lambda Invoke API         {lambda_api}  (aws lambda invoke --endpoint-url {lambda_api}; {exe} local invoke <function> <event.json>)\
         \n  rollout tick              a Scheduled Event to reload every {tick}\
         \n\nTry:\
         \n  curl -s {api}/health\
         \n  curl -s {api}/models\
         \n  curl -s -X POST {api}/recommend {json} -d '{{\"customer_id\":\"15889\",\"k\":3}}'\
         \n  curl -s -X POST {api}/recommend/batch {json} -d '{{\"customer_ids\":[\"15889\",\"1050935\",\"1050824\"],\"k\":3}}'\
         \n  curl -s -X POST {api}/valuation {json} -d '{{\"ts_code\":\"600519.SH\",\"forecast_years\":5}}'\
         \n  curl -s {api}/models/compliance-risk\
         \n  curl -s -X POST {api}/models/compliance-risk/predict {json} -d '{{\"rows\":[{{\"category\":\"travel\",\"region\":\"west\",\"account_age_months\":4,\"chargebacks\":3,\"refund_rate\":0.12,\"kyc_verified\":0}}]}}'\
         \n\nPublish a new model version (the S3 event goes to reload, as in AWS):\
         \n  {exe} train recommender --synthetic {n} --trees 30 --seed 7 --out /tmp/reco-v2\
         \n  {exe} publish /tmp/reco-v2 --bucket {BUCKET} --endpoint-url {s3}\
         \n\nThe serving bundle: {exe} inspect {reco}\
         \nFunction logs follow, prefixed with the function's name.\n",
        started.elapsed().as_secs_f64(),
        s3 = stores.s3_endpoint,
        ddb = stores.dynamodb_endpoint,
        fns = inits.join(", "),
        n = args.customers,
        reco = display_path(reco),
        tick = if args.tick_secs > 0.0 {
            format!("{} s", args.tick_secs)
        } else {
            "— (off: --tick-secs 0)".into()
        },
    );
}

fn display_path(p: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    p.strip_prefix(&cwd).unwrap_or(p).display().to_string()
}
