#!/usr/bin/env bash
# Boots one ephemeral GitHub Actions runner on an EC2 instance launched by cdk-ephemeral-runners.
#
#   runner-boot.sh [settings-file]        (default /etc/ephemeral-runners/boot.env)
#
# 1. reads its settings (KEY=VALUE lines written by the launch template's user data);
# 2. learns who this instance is from IMDSv2;
# 3. installs the runner when the AMI has none (the stock Ubuntu AMI of a first deploy);
# 4. reads this instance's JIT config from DynamoDB and deletes it in the same call
#    (DeleteItem with ReturnValues ALL_OLD), polling briefly because the webhook writes it
#    a moment after the instance starts;
# 5. runs the runner as an unprivileged user for exactly one job;
# 6. powers the instance off; the launch template turns an instance-initiated shutdown into
#    termination. Every exit path, success or failure, ends here.
#
# The JIT config is a credential. It lives in one shell variable and in the runner's
# environment only: never on a command line, in a file or in a log line.
set -Eeuo pipefail
umask 022

START_US=${EPOCHREALTIME/[.,]/}
SETTINGS_FILE=${1:-/etc/ephemeral-runners/boot.env}

# Production defaults. The user data sets the table, the log group and the runner package; the
# endpoints and paths below are overridden only by the test sandbox's settings file.
STATE_TABLE_NAME=''
LOG_GROUP_NAME=''
RUNNER_USER=runner
RUNNER_DIR=/opt/actions-runner
RUNNER_VERSION=''
RUNNER_URL_X64=''
RUNNER_URL_ARM64=''
RUNNER_SHA256_X64=''
RUNNER_SHA256_ARM64=''
IMDS_URL=http://169.254.169.254
DYNAMODB_ENDPOINT=''
S3_ENDPOINT=''
JIT_TIMEOUT_SECONDS=120
JIT_POLL_SECONDS=1
FAILURE_FLUSH_SECONDS=10
LOG_FILE=/var/log/ephemeral-runners/boot.log
CA_SOURCE_DIR=/etc/ephemeral-runners/ca
CA_TRUST_DIR=/usr/local/share/ca-certificates/ephemeral-runners
CW_AGENT_CTL=/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl
CW_AGENT_CONFIG=/opt/aws/amazon-cloudwatch-agent/etc/ephemeral-runner.json
CW_AGENT_DEB_URL=''
SUDOERS_DIR=/etc/sudoers.d
SETTING_NAMES=' STATE_TABLE_NAME LOG_GROUP_NAME RUNNER_USER RUNNER_DIR RUNNER_VERSION RUNNER_URL_X64
  RUNNER_URL_ARM64 RUNNER_SHA256_X64 RUNNER_SHA256_ARM64 IMDS_URL DYNAMODB_ENDPOINT S3_ENDPOINT
  JIT_TIMEOUT_SECONDS JIT_POLL_SECONDS FAILURE_FLUSH_SECONDS LOG_FILE CA_SOURCE_DIR CA_TRUST_DIR
  CW_AGENT_CTL CW_AGENT_CONFIG CW_AGENT_DEB_URL SUDOERS_DIR '

LOG_READY=''
LOG_SHIPPING=''

log() {
  local line
  printf -v line '%(%Y-%m-%dT%H:%M:%S%z)T ephemeral-runner-boot: %s' -1 "$*"
  printf '%s\n' "$line" >&2
  if [[ -n $LOG_READY ]]; then printf '%s\n' "$line" >>"$LOG_FILE"; fi
}

# A timing mark: one parseable line per milestone (the benchmark reads these).
mark() {
  local now=${2:-${EPOCHREALTIME/[.,]/}}
  log "MARK name=$1 epoch_ms=$((now / 1000)) elapsed_ms=$(((now - START_US) / 1000))"
}

fail() {
  log "ERROR: $*"
  exit 1
}

on_error() {
  log "ERROR: line $1 failed with status $3: $2"
}

# Runs once, on every exit: the instance must never outlive its one job.
finish() {
  local status=$?
  trap - ERR
  set +e
  if ((status != 0)); then
    log "boot failed (status $status): shutting down"
    if [[ -n $LOG_SHIPPING ]] && ((FAILURE_FLUSH_SECONDS > 0)); then
      log "waiting ${FAILURE_FLUSH_SECONDS}s for the CloudWatch agent to ship this log"
      sleep "$FAILURE_FLUSH_SECONDS"
    fi
  else
    log "runner finished: shutting down"
  fi
  mark shutdown
  shutdown -h now 'ephemeral runner done' || systemctl poweroff || poweroff -f
}

load_settings() {
  [[ -r $SETTINGS_FILE ]] || fail "settings file $SETTINGS_FILE is missing"
  local key value
  while IFS='=' read -r key value || [[ -n $key ]]; do
    [[ -z $key || $key == \#* ]] && continue
    if [[ $SETTING_NAMES == *[[:space:]]"$key"[[:space:]]* ]]; then
      printf -v "$key" '%s' "$value"
    else
      log "ignoring unknown setting $key"
    fi
  done <"$SETTINGS_FILE"
  [[ -n $STATE_TABLE_NAME ]] || fail "STATE_TABLE_NAME is not set in $SETTINGS_FILE"
  mkdir -p "${LOG_FILE%/*}"
  : >>"$LOG_FILE"
  chmod 0640 "$LOG_FILE"
  LOG_READY=1
}

# The value of a flat string field of a JSON object (IMDS documents, DynamoDB answers).
json_string() {
  local re="\"$2\"[[:space:]]*:[[:space:]]*\"([^\"]*)\""
  [[ $1 =~ $re ]] || return 1
  printf '%s' "${BASH_REMATCH[1]//\\\//\/}"
}

# imds PATH [more curl arguments]
imds() {
  curl -fsS --max-time 3 --retry 5 --retry-delay 1 --retry-connrefused \
    -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS_URL/latest/$1" "${@:2}"
}

discover_instance() {
  IMDS_TOKEN=$(curl -fsS --max-time 3 --retry 5 --retry-delay 1 --retry-connrefused -X PUT \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' "$IMDS_URL/latest/api/token")
  # One curl for three documents, separated by an ASCII unit separator: every fork counts at boot.
  local sep=$'\x1f' out doc
  out=$(imds dynamic/instance-identity/document -w "$sep" "$IMDS_URL/latest/meta-data/services/partition" \
    "$IMDS_URL/latest/meta-data/services/domain")
  doc=${out%%"$sep"*}
  out=${out#*"$sep"}
  PARTITION=${out%%"$sep"*}
  DOMAIN=${out#*"$sep"}
  DOMAIN=${DOMAIN%"$sep"}
  PARTITION=${PARTITION//[[:space:]]/}
  DOMAIN=${DOMAIN//[[:space:]]/}
  INSTANCE_ID=$(json_string "$doc" instanceId) || fail 'no instanceId in the identity document'
  REGION=$(json_string "$doc" region) || fail 'no region in the identity document'
  ACCOUNT_ID=$(json_string "$doc" accountId) || fail 'no accountId in the identity document'
  [[ -n $PARTITION && -n $DOMAIN ]] || fail 'IMDS did not tell the partition and DNS suffix'
  case $(uname -m) in
    x86_64) ARCH=x64 ;;
    aarch64 | arm64) ARCH=arm64 ;;
    *) fail "unsupported CPU architecture $(uname -m)" ;;
  esac
  DYNAMODB_ENDPOINT=${DYNAMODB_ENDPOINT:-https://dynamodb.$REGION.$DOMAIN}
  log "instance $INSTANCE_ID ($ARCH) in $REGION, account $ACCOUNT_ID"
}

# --- AWS Signature Version 4, done here rather than with curl --aws-sigv4: curl before 7.86
# (Ubuntu 22.04 ships 7.81) signs only host, date and content-type, not x-amz-target or the
# session token. The secret key reaches openssl's argv (hex) for a few milliseconds at boot,
# before any job code exists on the instance; every other credential goes to curl on a pipe.

load_credentials() {
  local role creds
  role=$(imds meta-data/iam/security-credentials/)
  creds=$(imds "meta-data/iam/security-credentials/${role%%$'\n'*}")
  AWS_KEY_ID=$(json_string "$creds" AccessKeyId) || return 1
  AWS_SECRET=$(json_string "$creds" SecretAccessKey) || return 1
  AWS_TOKEN=$(json_string "$creds" Token) || AWS_TOKEN=''
}

sha256_hex() {
  local out
  out=$(printf '%s' "$1" | sha256sum)
  printf '%s' "${out%% *}"
}

hmac_hex() {
  local out
  out=$(printf '%s' "$2" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" -r)
  printf '%s' "${out%% *}"
}

# Fills CURL_CONFIG (curl -K lines) with the signed headers of one request.
# sigv4 METHOD URL SERVICE PAYLOAD_SHA256 [lowercase-name:value ...]
sigv4() {
  local method=$1 url=$2 service=$3 payload_hash=$4 TZ=UTC
  shift 4
  local host=${url#*://} path amz_date key_hex='' i name canonical_headers='' signed_headers=''
  path=/${host#*/}
  [[ $host == */* ]] || path=/
  host=${host%%/*}
  printf -v amz_date '%(%Y%m%dT%H%M%SZ)T' -1
  local -a headers=("$@" "host:$host" "x-amz-date:$amz_date")
  [[ -z $AWS_TOKEN ]] || headers+=("x-amz-security-token:$AWS_TOKEN")
  mapfile -t headers < <(printf '%s\n' "${headers[@]}" | LC_ALL=C sort)
  CURL_CONFIG=''
  for i in "${headers[@]}"; do
    name=${i%%:*}
    canonical_headers+="$i"$'\n'
    signed_headers+="${signed_headers:+;}$name"
    [[ $name == host ]] || CURL_CONFIG+="header = \"$name: ${i#*:}\""$'\n'
  done
  local scope="${amz_date:0:8}/$REGION/$service/aws4_request" secret="AWS4$AWS_SECRET"
  for ((i = 0; i < ${#secret}; i++)); do printf -v key_hex '%s%02x' "$key_hex" "'${secret:i:1}"; done
  local canonical="$method"$'\n'"$path"$'\n\n'"$canonical_headers"$'\n'"$signed_headers"$'\n'"$payload_hash"
  local to_sign="AWS4-HMAC-SHA256"$'\n'"$amz_date"$'\n'"$scope"$'\n'
  to_sign+=$(sha256_hex "$canonical")
  key_hex=$(hmac_hex "$key_hex" "${amz_date:0:8}")
  key_hex=$(hmac_hex "$key_hex" "$REGION")
  key_hex=$(hmac_hex "$key_hex" "$service")
  key_hex=$(hmac_hex "$key_hex" aws4_request)
  CURL_CONFIG+="header = \"authorization: AWS4-HMAC-SHA256 Credential=$AWS_KEY_ID/$scope, SignedHeaders=$signed_headers, Signature=$(hmac_hex "$key_hex" "$to_sign")\""$'\n'
}

# One DeleteItem of this instance's handoff item. Sets JIT_CONFIG when the item was there,
# else LAST_PROBLEM; returns 1 on an HTTP or network error.
delete_handoff_item() {
  local key="arn:$PARTITION:ec2:$REGION:$ACCOUNT_ID:instance/$INSTANCE_ID" body response code problem
  body="{\"TableName\":\"$STATE_TABLE_NAME\",\"Key\":{\"pk\":{\"S\":\"$key\"}},\"ReturnValues\":\"ALL_OLD\"}"
  sigv4 POST "$DYNAMODB_ENDPOINT/" dynamodb "$(sha256_hex "$body")" \
    'content-type:application/x-amz-json-1.0' 'x-amz-target:DynamoDB_20120810.DeleteItem'
  response=$(curl -sS --max-time 5 -w $'\n%{http_code}' -K <(printf '%s' "$CURL_CONFIG") \
    --data-binary "$body" "$DYNAMODB_ENDPOINT/") || {
    LAST_PROBLEM='DynamoDB unreachable'
    return 1
  }
  code=${response##*$'\n'}
  response=${response%$'\n'*}
  if [[ $code != 200 ]]; then
    problem=$(json_string "$response" __type) || problem="HTTP $code"
    LAST_PROBLEM="${problem##*#}: $(json_string "$response" message || true)"
    return 1
  fi
  local re='"jitConfig"[[:space:]]*:[[:space:]]*\{[[:space:]]*"S"[[:space:]]*:[[:space:]]*"([^"]*)"'
  JIT_CONFIG=''
  if [[ $response =~ $re ]]; then JIT_CONFIG=${BASH_REMATCH[1]//\\\//\/}; fi
  [[ -n $JIT_CONFIG ]] || LAST_PROBLEM="no handoff item $key yet"
}

fetch_jit_config() {
  local deadline_ms=$((${EPOCHREALTIME/[.,]/} / 1000 + JIT_TIMEOUT_SECONDS * 1000)) attempt=0
  AWS_KEY_ID=''
  JIT_CONFIG=''
  LAST_PROBLEM=''
  while :; do
    attempt=$((attempt + 1))
    # Fresh credentials after any error: the instance profile can lag the instance by a moment.
    if [[ -n $AWS_KEY_ID ]] || load_credentials; then
      delete_handoff_item || AWS_KEY_ID=''
      [[ -z $JIT_CONFIG ]] || break
    else
      LAST_PROBLEM='no instance profile credentials yet'
    fi
    if ((${EPOCHREALTIME/[.,]/} / 1000 >= deadline_ms)); then
      fail "no JIT config after $attempt attempts in ${JIT_TIMEOUT_SECONDS}s: $LAST_PROBLEM"
    fi
    ((attempt % 10 != 1)) || log "waiting for the JIT config: $LAST_PROBLEM"
    sleep "$JIT_POLL_SECONDS"
  done
  log "JIT config read and deleted (attempt $attempt)"
}

# --- Installation when the AMI has no runner: the first deploy boots stock Ubuntu until the
# pipeline's first image is published. Mirrors the image's components, at the cost of 1-3 min.

download() {
  if [[ $1 == s3://* ]]; then
    local bucket=${1#s3://} key url
    key=${bucket#*/}
    bucket=${bucket%%/*}
    url=${S3_ENDPOINT:-https://$bucket.s3.$REGION.$DOMAIN}/$key
    load_credentials || fail 'no instance profile credentials to read the runner from S3'
    sigv4 GET "$url" s3 UNSIGNED-PAYLOAD 'x-amz-content-sha256:UNSIGNED-PAYLOAD'
    curl -fsS --retry 5 --max-time 900 -K <(printf '%s' "$CURL_CONFIG") -o "$2" "$url"
  else
    curl -fsSL --retry 5 --max-time 900 -o "$2" "$1"
  fi
}

install_runner() {
  log "no runner at $RUNNER_DIR: installing runner $RUNNER_VERSION at boot"
  mark install-start
  local url=$RUNNER_URL_X64 sha=$RUNNER_SHA256_X64 tarball
  if [[ $ARCH == arm64 ]]; then
    url=$RUNNER_URL_ARM64
    sha=$RUNNER_SHA256_ARM64
  fi
  [[ -n $url && $sha =~ ^[0-9a-f]{64}$ ]] || fail "no runner tarball with a SHA-256 is configured for $ARCH"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -qq -o DPkg::Lock::Timeout=300 update
  apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends \
    ca-certificates curl git jq tar unzip docker.io >/dev/null
  if getent passwd "$RUNNER_USER" >/dev/null; then usermod -aG docker "$RUNNER_USER"; fi
  tarball=$(mktemp)
  download "$url" "$tarball"
  printf '%s  %s\n' "$sha" "$tarball" | sha256sum -c --status - || fail "runner tarball $url does not match SHA-256 $sha"
  mkdir -p "$RUNNER_DIR"
  tar -xzf "$tarball" -C "$RUNNER_DIR"
  rm -f "$tarball"
  "$RUNNER_DIR/bin/installdependencies.sh" >/dev/null
  chown -R "$RUNNER_USER:" "$RUNNER_DIR"
  mark install-done
}

# The image creates the user; a custom AMI with the runner at $RUNNER_DIR may not have. Like on
# GitHub-hosted runners it may use sudo: it is in the docker group, root-equivalent anyway, and
# the instance serves one job.
ensure_runner_user() {
  getent passwd "$RUNNER_USER" >/dev/null && return 0
  log "creating user $RUNNER_USER"
  useradd --create-home --shell /bin/bash "$RUNNER_USER"
  if getent group docker >/dev/null; then usermod -aG docker "$RUNNER_USER"; fi
  mkdir -p "$SUDOERS_DIR"
  printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$RUNNER_USER" >"$SUDOERS_DIR/$RUNNER_USER"
  chmod 0440 "$SUDOERS_DIR/$RUNNER_USER"
  chown -R "$RUNNER_USER:" "$RUNNER_DIR"
}

install_cloudwatch_agent() {
  local deb_arch=amd64 deb
  [[ $ARCH == x64 ]] || deb_arch=arm64
  deb=$(mktemp --suffix=.deb)
  download "${CW_AGENT_DEB_URL:-https://amazoncloudwatch-agent-$REGION.s3.$REGION.$DOMAIN/ubuntu/$deb_arch/latest/amazon-cloudwatch-agent.deb}" "$deb"
  dpkg -i "$deb" >/dev/null
  rm -f "$deb"
}

# Ships the boot log, cloud-init's output and the runner's diagnostics to CloudWatch, in the
# background: the runner does not wait for the agent.
start_log_shipping() {
  if [[ ! -x $CW_AGENT_CTL ]]; then
    [[ $CW_AGENT_DEB_URL != none ]] || return 0
    log 'CloudWatch agent missing: installing it in the background'
    { install_cloudwatch_agent && start_log_shipping; } &
    return 0
  fi
  [[ -n $LOG_GROUP_NAME ]] || return 0
  local stream file collect='' name
  for stream in "boot=$LOG_FILE" cloud-init=/var/log/cloud-init-output.log \
    "runner=$RUNNER_DIR/_diag/Runner_*.log" "worker=$RUNNER_DIR/_diag/Worker_*.log"; do
    name=${stream%%=*}
    file=${stream#*=}
    collect+="${collect:+,}{\"file_path\":\"$file\",\"log_group_name\":\"$LOG_GROUP_NAME\",\"log_stream_name\":\"{instance_id}/$name\"}"
  done
  mkdir -p "${CW_AGENT_CONFIG%/*}"
  printf '{"logs":{"force_flush_interval":5,"logs_collected":{"files":{"collect_list":[%s]}}}}\n' \
    "$collect" >"$CW_AGENT_CONFIG"
  "$CW_AGENT_CTL" -a fetch-config -m ec2 -s -c "file:$CW_AGENT_CONFIG" >/dev/null 2>&1 &
  LOG_SHIPPING=1
}

# Extra CA certificates: into the OS store (skipped when the image already has them) and into
# the runner's Node through NODE_EXTRA_CA_CERTS in the runner's .env.
install_ca_certificates() {
  local certs=() cert changed=''
  [[ ! -d $CA_SOURCE_DIR ]] || mapfile -t certs < <(find "$CA_SOURCE_DIR" -maxdepth 1 -name '*.crt' | sort)
  ((${#certs[@]} > 0)) || return 0
  mkdir -p "$CA_TRUST_DIR"
  for cert in "${certs[@]}"; do
    cmp -s "$cert" "$CA_TRUST_DIR/${cert##*/}" || {
      cp "$cert" "$CA_TRUST_DIR/"
      changed=1
    }
  done
  [[ -z $changed ]] || update-ca-certificates >/dev/null
  cat "${certs[@]}" >"$CA_TRUST_DIR/bundle.pem"
  grep -qs '^NODE_EXTRA_CA_CERTS=' "$RUNNER_DIR/.env" ||
    printf 'NODE_EXTRA_CA_CERTS=%s\n' "$CA_TRUST_DIR/bundle.pem" >>"$RUNNER_DIR/.env"
  log "trusting ${#certs[@]} extra CA certificate(s)"
}

# Runs the runner as the unprivileged user; the JIT config travels in its environment only
# (ACTIONS_RUNNER_INPUT_JITCONFIG, which the runner reads and removes).
run_runner() {
  local home
  home=$(getent passwd "$RUNNER_USER" | cut -d: -f6)
  cd "$RUNNER_DIR"
  export HOME=$home USER=$RUNNER_USER LOGNAME=$RUNNER_USER
  ACTIONS_RUNNER_INPUT_JITCONFIG=$JIT_CONFIG exec setpriv --reuid="$RUNNER_USER" \
    --regid="$RUNNER_USER" --init-groups -- ./run.sh
}

main() {
  trap 'on_error "$LINENO" "$BASH_COMMAND" "$?"' ERR
  trap finish EXIT
  load_settings
  mark script-start "$START_US"
  discover_instance
  [[ -x $RUNNER_DIR/run.sh ]] || install_runner
  ensure_runner_user
  start_log_shipping
  install_ca_certificates
  fetch_jit_config
  mark jit-fetched
  mark runner-start
  # Wait for the runner itself, not for the end of its output: a process a job left behind may
  # keep the pipe open, and the instance must still shut down.
  local status=0 runner
  run_runner > >(tee -a "$LOG_FILE" >&2) 2>&1 &
  runner=$!
  wait "$runner" || status=$?
  JIT_CONFIG=''
  mark runner-exit
  log "runner exited with status $status"
}

main "$@"
