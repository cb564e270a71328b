#!/bin/sh
# Sign a webhook payload with the App's webhook secret and POST it to a
# running `dispatcher serve`, as GitHub would.
#
#   GITHUB_WEBHOOK_SECRET=… ./sign-and-send.sh [PAYLOAD] [URL]
#
# PAYLOAD defaults to workflow_run.json beside this script, URL to
# http://127.0.0.1:3000/webhooks/github. Each call uses a new delivery id
# (DELIVERY_ID overrides it; sending the same id twice within REPLAY_WINDOW
# gets 409). Needs openssl and curl.
set -eu

dir=$(cd "$(dirname "$0")" && pwd)
payload=${1:-"$dir/workflow_run.json"}
url=${2:-http://127.0.0.1:3000/webhooks/github}
event=${EVENT:-workflow_run}

if [ -z "${GITHUB_WEBHOOK_SECRET:-}" ]; then
	echo "sign-and-send.sh: set GITHUB_WEBHOOK_SECRET to the secret serve uses" >&2
	exit 2
fi
if [ ! -r "$payload" ]; then
	echo "sign-and-send.sh: cannot read $payload" >&2
	exit 2
fi

delivery=${DELIVERY_ID:-$(openssl rand -hex 16 | sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)/\1-\2-\3-\4-/')}
# The HMAC covers the exact bytes sent: curl --data-binary sends the file as is.
sig=$(openssl dgst -sha256 -hmac "$GITHUB_WEBHOOK_SECRET" -r <"$payload" | cut -d' ' -f1)

echo "POST $url (event $event, delivery $delivery)" >&2
curl --silent --show-error --write-out '\nHTTP %{http_code}\n' \
	-H "Content-Type: application/json" \
	-H "X-GitHub-Event: $event" \
	-H "X-GitHub-Delivery: $delivery" \
	-H "X-Hub-Signature-256: sha256=$sig" \
	--data-binary "@$payload" \
	"$url"
