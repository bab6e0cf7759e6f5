//! `origo-lambda`: Origo's edge functions on AWS Lambda. Reads its configuration from the
//! environment (refusing to start while something required is unset), connects to Redis and
//! serves every event through [`origo_functions_lambda::dispatch::serve`].

use std::sync::Arc;

use lambda_http::{Error, Request, service_fn};
use origo_functions_lambda::coordinator_endpoint::CoordinatorEndpoint;
use origo_functions_lambda::outbound::Outbound;
use origo_functions_lambda::redis_store::RedisStore;
use origo_functions_lambda::{Deployment, LambdaPlatform, Services, dispatch};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ORIGO_LOG").unwrap_or_else(|_| "info".into()))
        .json()
        .without_time()
        .init();
    let deployment = match Deployment::from_env(|name| std::env::var(name).ok()) {
        Ok(d) => Arc::new(d),
        Err(e) => {
            eprintln!("origo-lambda cannot start: {e}");
            std::process::exit(2);
        }
    };
    let store = RedisStore::connect(&deployment.redis_url, deployment.redis_ca_file.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to Redis at ORIGO_REDIS_URL: {e}"))?;
    let coordinator: CoordinatorEndpoint = deployment.coordinator.clone();
    let services =
        Arc::new(Services { store, outbound: Outbound::new(deployment.trusted_hosts.clone())?, coordinator });
    tracing::info!(coordinators = deployment.coordinator.base(), "origo-lambda ready");
    lambda_http::run(service_fn(move |req: Request| {
        let (deployment, services) = (deployment.clone(), services.clone());
        async move {
            let res = dispatch::serve(&deployment, req, |c| LambdaPlatform::new(services.clone(), c.clone())).await;
            Ok::<_, Error>(res)
        }
    }))
    .await
}
