#!/usr/bin/env bash
# Deploys ClaudeCluster to Cloud Run: builds the worker and router images, pushes them to Artifact Registry,
# creates the secrets that are missing, deploys worker.yaml, then router.yaml pointed at the worker service.
#
#   PROJECT_ID=my-project REGION=europe-west1 ANTHROPIC_API_KEY=sk-ant-... deploy/cloudrun/deploy.sh
#   deploy/cloudrun/deploy.sh --project my-project --region europe-west1 [--repo claudecluster] [--tag v1]
#
# Needs gcloud (logged in, with rights to enable APIs, create secrets, service accounts and Cloud Run services)
# and docker. Secrets (Secret Manager, created only when missing; add a version to rotate one):
#   claudecluster-cc-token          CC_TOKEN, what clients present to the router (generated if unset)
#   claudecluster-cc-worker-token   CC_WORKER_TOKEN, what the router presents to the workers (generated if unset)
#   claudecluster-anthropic-api-key ANTHROPIC_API_KEY, or instead
#   claudecluster-claude-code-oauth-token  CLAUDE_CODE_OAUTH_TOKEN (from `claude setup-token`)
#   claudecluster-cc-store          CC_STORE, with --store: a Redis URL (Memorystore: redis://:AUTH@10.x.x.x:6379/0,
#                                   rediss:// with in-transit encryption), so that several routers share the tasks
# Secret values go to gcloud on standard input; they are never printed or put on a command line.
#
# With a Redis task store the router reaches it over the VPC (direct VPC egress): --network and --subnet name it,
# and --routers how many router instances run (default 2). Without one, the router keeps tasks in memory and runs
# as one instance, whose tasks a new revision does not know.
set -euo pipefail

usage() {
  echo "usage: deploy.sh --project PROJECT_ID --region REGION [--repo REPO] [--tag TAG]"
  echo "                 [--store REDIS_URL --network NETWORK --subnet SUBNET [--routers N]]"
  echo "       (or PROJECT_ID, REGION, REPO, TAG, CC_STORE, NETWORK, SUBNET and ROUTERS in the environment)"
}

die() {
  echo "deploy.sh: $*" >&2
  exit 1
}

PROJECT_ID=${PROJECT_ID:-}
REGION=${REGION:-}
REPO=${REPO:-claudecluster}
TAG=${TAG:-}
CC_STORE=${CC_STORE:-}
NETWORK=${NETWORK:-}
SUBNET=${SUBNET:-}
ROUTERS=${ROUTERS:-2}
while [ $# -gt 0 ]; do
  case $1 in
    --store) CC_STORE=${2:?--store needs a value}; shift 2 ;;
    --network) NETWORK=${2:?--network needs a value}; shift 2 ;;
    --subnet) SUBNET=${2:?--subnet needs a value}; shift 2 ;;
    --routers) ROUTERS=${2:?--routers needs a value}; shift 2 ;;
    --project) PROJECT_ID=${2:?--project needs a value}; shift 2 ;;
    --region) REGION=${2:?--region needs a value}; shift 2 ;;
    --repo) REPO=${2:?--repo needs a value}; shift 2 ;;
    --tag) TAG=${2:?--tag needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[ -n "$PROJECT_ID" ] || die "set PROJECT_ID or pass --project"
[ -n "$REGION" ] || die "set REGION or pass --region"
if [ -n "$CC_STORE" ]; then
  case $CC_STORE in redis://* | rediss://*) ;; *) die "--store takes a redis:// or rediss:// URL (Memorystore's address)" ;; esac
  if [ -z "$NETWORK" ] || [ -z "$SUBNET" ]; then die "--store needs --network and --subnet: the router reaches Redis over the VPC"; fi
  case $ROUTERS in '' | *[!0-9]*) die "--routers takes a number" ;; esac
fi
command -v gcloud >/dev/null || die "gcloud is not installed"
command -v docker >/dev/null || die "docker is not installed"

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
TAG=${TAG:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || date +%Y%m%d%H%M%S)}
registry="$REGION-docker.pkg.dev/$PROJECT_ID/$REPO"
image_worker="$registry/claudecluster-worker:$TAG"
image_router="$registry/claudecluster-router:$TAG"
sa="claudecluster@$PROJECT_ID.iam.gserviceaccount.com"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gc() {
  gcloud --project "$PROJECT_ID" --quiet "$@"
}

secret_exists() {
  gc secrets describe "$1" >/dev/null 2>&1
}

# ensure_secret NAME VALUE: creates the secret from VALUE unless it exists.
ensure_secret() {
  if secret_exists "$1"; then
    echo "    $1: exists, kept"
    return
  fi
  [ -n "$2" ] || die "secret $1 is missing and no value was given for it"
  printf '%s' "$2" | gc secrets create "$1" --replication-policy automatic --data-file=- >/dev/null
  echo "    $1: created"
}

random_token() {
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

echo "==> APIs"
gc services enable run.googleapis.com artifactregistry.googleapis.com secretmanager.googleapis.com iam.googleapis.com

echo "==> Artifact Registry $registry"
gc artifacts repositories describe "$REPO" --location "$REGION" >/dev/null 2>&1 ||
  gc artifacts repositories create "$REPO" --repository-format docker --location "$REGION"
gcloud auth configure-docker "$REGION-docker.pkg.dev" --quiet

echo "==> images"
docker build --platform linux/amd64 -f "$root/Dockerfile.worker" -t "$image_worker" "$root"
docker build --platform linux/amd64 -f "$root/Dockerfile.router" -t "$image_router" "$root"
docker push "$image_worker"
docker push "$image_router"

echo "==> secrets"
# The claude credential: an API key, or an OAuth token, whichever is given or already stored.
if [ -n "${ANTHROPIC_API_KEY:-}" ] || secret_exists claudecluster-anthropic-api-key; then
  cred_env=ANTHROPIC_API_KEY
  cred_secret=claudecluster-anthropic-api-key
  cred_value=${ANTHROPIC_API_KEY:-}
elif [ -n "${CLAUDE_CODE_OAUTH_TOKEN:-}" ] || secret_exists claudecluster-claude-code-oauth-token; then
  cred_env=CLAUDE_CODE_OAUTH_TOKEN
  cred_secret=claudecluster-claude-code-oauth-token
  cred_value=${CLAUDE_CODE_OAUTH_TOKEN:-}
else
  die "set ANTHROPIC_API_KEY (or CLAUDE_CODE_OAUTH_TOKEN) for the workers' claude"
fi
ensure_secret claudecluster-cc-token "${CC_TOKEN:-$(random_token)}"
ensure_secret claudecluster-cc-worker-token "${CC_WORKER_TOKEN:-$(random_token)}"
ensure_secret "$cred_secret" "$cred_value"
router_secrets=(claudecluster-cc-token claudecluster-cc-worker-token)
if [ -n "$CC_STORE" ]; then
  ensure_secret claudecluster-cc-store "$CC_STORE"
  router_secrets+=(claudecluster-cc-store)
fi

echo "==> service account $sa"
gc iam service-accounts describe "$sa" >/dev/null 2>&1 ||
  gc iam service-accounts create claudecluster --display-name "ClaudeCluster on Cloud Run"
for secret in "${router_secrets[@]}" "$cred_secret"; do
  gc secrets add-iam-policy-binding "$secret" --member "serviceAccount:$sa" \
    --role roles/secretmanager.secretAccessor >/dev/null
done

# With a Redis store: the router's CC_STORE from the secret, ROUTERS instances, and egress to the VPC.
store_edits=()
if [ -n "$CC_STORE" ]; then
  store_edits=(
    -e "s|value: memory # STORE|valueFrom: {secretKeyRef: {name: claudecluster-cc-store, key: latest}}|"
    -e "s|autoscaling.knative.dev/maxScale: \"1\" # ROUTERS|autoscaling.knative.dev/maxScale: \"$ROUTERS\"|"
    -e "s|^\( *\)run.googleapis.com/execution-environment: gen2|&\n\1run.googleapis.com/network-interfaces: '[{\"network\":\"$NETWORK\",\"subnetwork\":\"$SUBNET\"}]'\n\1run.googleapis.com/vpc-access-egress: private-ranges-only|"
  )
fi

# render FILE POOL: the manifest with its placeholders filled in.
render() {
  local edits=()
  [ "$1" = router.yaml ] && edits=("${store_edits[@]+"${store_edits[@]}"}")
  sed "${edits[@]+"${edits[@]}"}" \
    -e "s|PROJECT_ID|$PROJECT_ID|g" \
    -e "s|IMAGE_WORKER|$image_worker|g" \
    -e "s|IMAGE_ROUTER|$image_router|g" \
    -e "s|WORKER_POOL|$2|g" \
    -e "s|name: ANTHROPIC_API_KEY|name: $cred_env|" \
    -e "s|name: claudecluster-anthropic-api-key|name: $cred_secret|" \
    "$here/$1"
}

# deploy NAME FILE POOL: deploys the service and lets anyone call it; the services check bearer tokens themselves
# (Cloud Run's own IAM check would take the authorization header they use).
deploy() {
  render "$2" "$3" >"$tmp/$2"
  gc run services replace "$tmp/$2" --region "$REGION"
  gc run services add-iam-policy-binding "$1" --region "$REGION" --member allUsers --role roles/run.invoker >/dev/null
}

echo "==> worker service"
deploy claudecluster-worker worker.yaml ""
worker_url=$(gc run services describe claudecluster-worker --region "$REGION" --format 'value(status.url)')
concurrency=$(sed -n 's/^ *containerConcurrency: *\([0-9][0-9]*\).*/\1/p' "$here/worker.yaml")
max_scale=$(sed -n 's|^ *autoscaling.knative.dev/maxScale: *"\([0-9][0-9]*\)".*|\1|p' "$here/worker.yaml")
if [ -z "$concurrency" ] || [ -z "$max_scale" ]; then
  die "cannot read containerConcurrency and maxScale from worker.yaml"
fi
pool="cloudrun=$worker_url@$((concurrency * max_scale))"

echo "==> router service (CC_WORKERS=$pool)"
deploy claudecluster-router router.yaml "$pool"
router_url=$(gc run services describe claudecluster-router --region "$REGION" --format 'value(status.url)')

cat <<EOF

Router: $router_url

  export CC_ROUTER_URL=$router_url
  export CC_TOKEN="\$(gcloud secrets versions access latest --secret claudecluster-cc-token --project $PROJECT_ID)"
  cc run "explain this repository"
  cc workers
EOF
