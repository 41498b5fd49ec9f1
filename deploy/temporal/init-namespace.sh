#!/bin/sh
# Run in temporalio/admin-tools once the server is up: the namespace msm uses and its search attributes
# (the same list as src/temporal/search-attribute-keys.ts). Safe to run again.
set -eu
ns="${MSM_NAMESPACE:-default}"
until temporal operator cluster health >/dev/null 2>&1; do echo "waiting for the Temporal frontend at $TEMPORAL_ADDRESS"; sleep 2; done
temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1 || temporal operator namespace create --namespace "$ns" --retention 30d
for sa in MsmSpec:Keyword MsmBaseModel:Keyword MsmStage:Keyword MsmArm:Keyword MsmFraction:Double MsmReleaseFailed:Bool; do
  name=${sa%%:*} type=${sa#*:}
  if temporal operator search-attribute list --namespace "$ns" | grep -q "^ *$name "; then continue; fi
  temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type" --yes
done
echo "namespace $ns is ready for msm"
