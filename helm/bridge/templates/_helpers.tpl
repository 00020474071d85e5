{{/*
Names, labels and the pieces every template shares. The bridge's configuration is built here
(bridge.configYaml) from values, one per workload, in the format of bridge/config.py.
*/}}

{{- define "bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bridge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels shared by every object. */}}
{{- define "bridge.labels" -}}
helm.sh/chart: {{ include "bridge.chart" . }}
{{ include "bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bridge
{{- end -}}

{{/* Selects every pod of the release (metrics Service, NetworkPolicy). */}}
{{- define "bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of one workload's objects; call with (dict "root" $ "workload" $w). */}}
{{- define "bridge.workloadLabels" -}}
{{ include "bridge.labels" .root }}
app.kubernetes.io/component: {{ .workload.component }}
{{- end -}}

{{/* Selects one workload's pods; call with (dict "root" $ "workload" $w). */}}
{{- define "bridge.workloadSelectorLabels" -}}
{{ include "bridge.selectorLabels" .root }}
app.kubernetes.io/component: {{ .workload.component }}
{{- end -}}

{{- define "bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bridge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bridge.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Where things are mounted in the bridge container. */}}
{{- define "bridge.configDir" -}}/etc/bridge/config{{- end -}}
{{- define "bridge.secretsDir" -}}/etc/bridge/secrets{{- end -}}
{{- define "bridge.caDir" -}}/etc/bridge/kafka-ca{{- end -}}

{{- define "bridge.credentialsSecretName" -}}
{{- default (printf "%s-credentials" (include "bridge.fullname" .)) .Values.credentials.existingSecret -}}
{{- end -}}

{{/* "true" when the brokers are reached over SASL. */}}
{{- define "bridge.sasl" -}}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{/* "true" when the brokers are reached over TLS. */}}
{{- define "bridge.tls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") -}}true{{- end -}}
{{- end -}}

{{/* The Secret holding the Kafka CA bundle, or "" when the system trust store is used. */}}
{{- define "bridge.caSecretName" -}}
{{- if .Values.kafka.tls.existingSecret -}}
{{- .Values.kafka.tls.existingSecret -}}
{{- else if .Values.kafka.tls.caBundle -}}
{{- printf "%s-kafka-ca" (include "bridge.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "bridge.caSecretKey" -}}
{{- if .Values.kafka.tls.existingSecret -}}{{ .Values.kafka.tls.existingSecretKey }}{{- else -}}ca.crt{{- end -}}
{{- end -}}

{{/*
The workloads to run, as a JSON list: one per enabled vendor (perVendor) or one for all (single).
Each: name, component, vendors, replicas, resources, secretKeys, autoscaling, keda.
*/}}
{{- define "bridge.workloads" -}}
{{- $root := . -}}
{{- $fullname := include "bridge.fullname" . -}}
{{- $enabled := list -}}
{{- range $name := keys .Values.vendors | sortAlpha -}}
{{- if (index $root.Values.vendors $name).enabled -}}
{{- $enabled = append $enabled $name -}}
{{- end -}}
{{- end -}}
{{- $workloads := list -}}
{{- if eq .Values.deploymentMode "single" -}}
{{- $keys := list -}}
{{- $replicas := 1 -}}
{{- range $name := $enabled -}}
{{- $vendor := index $root.Values.vendors $name -}}
{{- $keys = concat $keys $vendor.secretKeys -}}
{{- $replicas = max $replicas $vendor.replicas -}}
{{- end -}}
{{- $workloads = append $workloads (dict "name" $fullname "component" "all" "vendors" $enabled "replicas" $replicas "resources" .Values.resources "secretKeys" ($keys | uniq) "autoscaling" .Values.autoscaling "keda" .Values.keda) -}}
{{- else -}}
{{- range $name := $enabled -}}
{{- $vendor := index $root.Values.vendors $name -}}
{{- $autoscaling := deepCopy $root.Values.autoscaling -}}
{{- range $key, $value := ($vendor.autoscaling | default dict) -}}
{{- $_ := set $autoscaling $key $value -}}
{{- end -}}
{{- $keda := deepCopy $root.Values.keda -}}
{{- range $key, $value := ($vendor.keda | default dict) -}}
{{- $_ := set $keda $key $value -}}
{{- end -}}
{{- $workloads = append $workloads (dict "name" (printf "%s-%s" $fullname $name | trunc 63 | trimSuffix "-") "component" $name "vendors" (list $name) "replicas" $vendor.replicas "resources" ($vendor.resources | default $root.Values.resources) "secretKeys" $vendor.secretKeys "autoscaling" $autoscaling "keda" $keda) -}}
{{- end -}}
{{- end -}}
{{- toJson $workloads -}}
{{- end -}}

{{/*
The bridge configuration (bridge/config.py) of one workload, as YAML; call with
(dict "root" $ "workload" $w). Only the workload's vendors are in it.
*/}}
{{- define "bridge.configYaml" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $kafka := dict "bootstrap_servers" $v.kafka.bootstrapServers "group_prefix" $v.kafka.groupPrefix "security_protocol" $v.kafka.securityProtocol -}}
{{- if include "bridge.sasl" $root -}}
{{- $_ := set $kafka "sasl_mechanism" $v.kafka.sasl.mechanism -}}
{{- $_ := set $kafka "sasl_username" $v.kafka.sasl.username -}}
{{- $_ := set $kafka "sasl_password" (dict "file" (printf "%s/kafka-sasl-password" (include "bridge.secretsDir" $root))) -}}
{{- end -}}
{{- if and (include "bridge.tls" $root) (include "bridge.caSecretName" $root) -}}
{{- $_ := set $kafka "ssl_ca_location" (printf "%s/ca.crt" (include "bridge.caDir" $root)) -}}
{{- end -}}
{{- if $v.kafka.schemaRegistryUrl -}}
{{- $_ := set $kafka "schema_registry_url" $v.kafka.schemaRegistryUrl -}}
{{- end -}}
{{- if $v.kafka.consumerProperties -}}
{{- $_ := set $kafka "consumer_properties" $v.kafka.consumerProperties -}}
{{- end -}}
{{- if $v.kafka.producerProperties -}}
{{- $_ := set $kafka "producer_properties" $v.kafka.producerProperties -}}
{{- end -}}
{{- $vendors := dict -}}
{{- range $name := .workload.vendors -}}
{{- $vendor := index $v.vendors $name -}}
{{- $entry := deepCopy ($vendor.options | default dict) -}}
{{- $_ := set $entry "enabled" true -}}
{{- if $vendor.baseUrl -}}
{{- $_ := set $entry "base_url" $vendor.baseUrl -}}
{{- end -}}
{{- $_ := set $entry "settings" ($vendor.settings | default dict) -}}
{{- $_ := set $vendors $name $entry -}}
{{- end -}}
{{- $config := deepCopy $v.config -}}
{{- $_ := set $config "kafka" $kafka -}}
{{- $_ := set $config "vendors" $vendors -}}
{{- $_ := set $config "http" (dict "host" "0.0.0.0" "port" (int $v.metrics.port)) -}}
{{- $_ := set $config "schemas_dir" "/app/schemas" -}}
{{- toYaml $config -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: derived from the drain deadline, or checked against it. */}}
{{- define "bridge.terminationGracePeriodSeconds" -}}
{{- $deadline := float64 (.Values.config.shutdown_deadline_s | default 25) -}}
{{- if .Values.terminationGracePeriodSeconds -}}
{{- if le (float64 .Values.terminationGracePeriodSeconds) $deadline -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be larger than config.shutdown_deadline_s (%v): Kubernetes would kill the bridge in the middle of its drain" .Values.terminationGracePeriodSeconds $deadline) -}}
{{- end -}}
{{- int .Values.terminationGracePeriodSeconds -}}
{{- else -}}
{{- add (int (ceil $deadline)) (int .Values.terminationGraceMarginSeconds) -}}
{{- end -}}
{{- end -}}

{{/* Checks no JSON schema can express; renders nothing or fails with the value's path. */}}
{{- define "bridge.validate" -}}
{{- $v := .Values -}}
{{- $workloads := include "bridge.workloads" . | fromJsonArray -}}
{{- if not $workloads -}}
{{- fail "vendors: no vendor is enabled; set vendors.<name>.enabled: true for at least one" -}}
{{- end -}}
{{- $partitions := int $v.kafka.topicPartitions -}}
{{- range $w := $workloads -}}
{{- $where := printf "the %s Deployment" $w.component -}}
{{- if gt (int $w.replicas) $partitions -}}
{{- fail (printf "%s: replicas %v is more than kafka.topicPartitions (%d); the extra consumers would sit idle" $where $w.replicas $partitions) -}}
{{- end -}}
{{- if and $w.autoscaling.enabled $w.keda.enabled -}}
{{- fail (printf "%s: autoscaling and keda are both enabled; choose one (KEDA creates its own HorizontalPodAutoscaler)" $where) -}}
{{- end -}}
{{- if $w.autoscaling.enabled -}}
{{- if gt (int $w.autoscaling.maxReplicas) $partitions -}}
{{- fail (printf "%s: autoscaling.maxReplicas %v is more than kafka.topicPartitions (%d)" $where $w.autoscaling.maxReplicas $partitions) -}}
{{- end -}}
{{- if gt (int $w.autoscaling.minReplicas) (int $w.autoscaling.maxReplicas) -}}
{{- fail (printf "%s: autoscaling.minReplicas is more than autoscaling.maxReplicas" $where) -}}
{{- end -}}
{{- end -}}
{{- if $w.keda.enabled -}}
{{- if gt (int $w.keda.maxReplicaCount) $partitions -}}
{{- fail (printf "%s: keda.maxReplicaCount %v is more than kafka.topicPartitions (%d)" $where $w.keda.maxReplicaCount $partitions) -}}
{{- end -}}
{{- if gt (int $w.keda.minReplicaCount) (int $w.keda.maxReplicaCount) -}}
{{- fail (printf "%s: keda.minReplicaCount is more than keda.maxReplicaCount" $where) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if include "bridge.sasl" . -}}
{{- if not $v.kafka.sasl.username -}}
{{- fail (printf "kafka.sasl.username is required with kafka.securityProtocol %s" $v.kafka.securityProtocol) -}}
{{- end -}}
{{- if and (not $v.credentials.existingSecret) (not (index $v.credentials.values "kafka-sasl-password")) -}}
{{- fail (printf "credentials.values.kafka-sasl-password is required with kafka.securityProtocol %s (or use credentials.existingSecret)" $v.kafka.securityProtocol) -}}
{{- end -}}
{{- end -}}
{{- if and $v.kafka.tls.caBundle $v.kafka.tls.existingSecret -}}
{{- fail "kafka.tls: set caBundle or existingSecret, not both" -}}
{{- end -}}
{{- $confluent := or (eq $v.config.topics.orders.format "confluent") (eq $v.config.topics.product_views.format "confluent") -}}
{{- if and $confluent (not $v.kafka.schemaRegistryUrl) -}}
{{- fail "kafka.schemaRegistryUrl is required when a topic's format is confluent" -}}
{{- end -}}
{{- $_ := include "bridge.terminationGracePeriodSeconds" . -}}
{{- end -}}

{{/* The chart-created Secret's data for the given keys, for the checksum annotation. */}}
{{- define "bridge.secretChecksum" -}}
{{- $root := .root -}}
{{- $data := dict -}}
{{- if not $root.Values.credentials.existingSecret -}}
{{- range $key := .keys -}}
{{- $_ := set $data $key (index $root.Values.credentials.values $key | default "") -}}
{{- end -}}
{{- end -}}
{{- $_ := set $data "kafka-ca" $root.Values.kafka.tls.caBundle -}}
{{- toJson $data | sha256sum -}}
{{- end -}}

{{/* The credential keys one workload mounts. */}}
{{- define "bridge.workloadSecretKeys" -}}
{{- $keys := .workload.secretKeys | default list -}}
{{- if include "bridge.sasl" .root -}}
{{- $keys = append $keys "kafka-sasl-password" -}}
{{- end -}}
{{- toJson ($keys | uniq) -}}
{{- end -}}
