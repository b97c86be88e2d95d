#!/bin/sh
# Creates the orders' namespace and the search attributes of the wire contract
# (workflows/contract.go). Safe to run again: what exists is left alone.
set -eu
ns="$TERMINATION_NAMESPACE"
until temporal operator cluster health --address "$TEMPORAL_ADDRESS"; do echo 'waiting for Temporal'; sleep 3; done
temporal operator namespace describe --address "$TEMPORAL_ADDRESS" -n "$ns" >/dev/null 2>&1 ||
  temporal operator namespace create --address "$TEMPORAL_ADDRESS" -n "$ns" --retention 30d
# A new namespace reaches every service of the server after a few seconds.
until temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" -n "$ns" >/dev/null 2>&1; do
  echo "waiting for namespace $ns"; sleep 2
done
existing=$(temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" -n "$ns")
for sa in TerminationStage:Keyword AwsAccountId:Keyword SubscriptionId:Keyword ReopenDeadline:Datetime UnlinkDueBy:Datetime; do
  name=${sa%%:*}
  type=${sa##*:}
  if ! echo "$existing" | grep -qw "$name"; then
    temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" -n "$ns" --name "$name" --type "$type"
  fi
done
echo "Namespace $ns ready with the termination order search attributes"
