{{/*
Names, labels and the pieces every template shares. The bridge's configuration is built here
(bridge.configYaml) from values, one per workload, in the format of bridge/config/.
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
{{ include "bridge.stableLabels" . }}
{{- end -}}

{{/*
The labels of every object except helm.sh/chart, which changes with each chart version: pod
templates carry only these, so a chart bump alone never restarts the pods (nor rebalances every
consumer group).
*/}}
{{- define "bridge.stableLabels" -}}
{{ include "bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bridge
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
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

{{/* Labels of one workload's pod template (no helm.sh/chart); call with (dict "root" $ "workload" $w). */}}
{{- define "bridge.podLabels" -}}
{{ include "bridge.stableLabels" .root }}
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
{{- $_ := required "image.repository is required: build the image from the repository's Dockerfile, push it to your registry and set image.repository (no public image is published; see docs/deploy.md)" .Values.image.repository -}}
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
{{- define "bridge.clientCertDir" -}}/etc/bridge/kafka-client{{- end -}}
{{- define "bridge.vendorCaDir" -}}/etc/bridge/vendor-ca{{- end -}}
{{- define "bridge.registryCaDir" -}}/etc/bridge/schema-registry-ca{{- end -}}
{{- define "bridge.registryClientCertDir" -}}/etc/bridge/schema-registry-client{{- end -}}

{{/* "true" when the SASL mechanism is OAUTHBEARER (OIDC). */}}
{{- define "bridge.oauth" -}}
{{- if and (include "bridge.sasl" .) (eq .Values.kafka.sasl.mechanism "OAUTHBEARER") -}}true{{- end -}}
{{- end -}}

{{/* The event types a list of vendors reads, sorted (their vendors.<name>.eventTypes). */}}
{{- define "bridge.eventTypes" -}}
{{- $types := list -}}
{{- range $name := .vendors -}}
{{- $types = concat $types (index $.root.Values.vendors $name).eventTypes -}}
{{- end -}}
{{- toJson ($types | uniq | sortAlpha) -}}
{{- end -}}

{{/*
The topic blocks of an event type (order, product_view), as a JSON list: config.topics.orders
and config.topics.product_views are each one block or a list of them, as in the bridge's
config. Call with (dict "root" $ "eventType" T).
*/}}
{{- define "bridge.topicBlocks" -}}
{{- $keys := dict "order" "orders" "product_view" "product_views" -}}
{{- $key := required (printf "unknown event type %q in a vendor's eventTypes (known: order, product_view)" .eventType) (get $keys .eventType) -}}
{{- $topics := index .root.Values.config.topics $key -}}
{{- if kindIs "slice" $topics -}}
{{- toJson $topics -}}
{{- else -}}
{{- toJson (list $topics) -}}
{{- end -}}
{{- end -}}

{{/*
The topics KEDA's Kafka scaler watches for one vendor, as a JSON list of {eventType, name}: every
topic block of the vendor's eventTypes, one trigger each. The scaler takes one topic name per
trigger and no pattern, so a pattern (a name starting with ^) fails the render; the Prometheus
lag source (keda.lagSource: prometheus) reads the bridge's own lag metric, which covers every
topic a pattern matches. Call with (dict "root" $ "vendor" NAME "where" TEXT).
*/}}
{{- define "bridge.kedaKafkaTopics" -}}
{{- $topics := list -}}
{{- $types := include "bridge.eventTypes" (dict "root" .root "vendors" (list .vendor)) | fromJsonArray -}}
{{- range $type := $types -}}
{{- range $block := include "bridge.topicBlocks" (dict "root" $.root "eventType" $type) | fromJsonArray -}}
{{- if hasPrefix "^" $block.name -}}
{{- fail (printf "%s: keda.lagSource kafka cannot scale %s on the topic pattern %q (config.topics, %s events): KEDA's Kafka scaler needs each topic by name. Set keda.lagSource: prometheus (with keda.prometheus.serverAddress; the bridge's lag metric covers every topic the pattern matches), or list the topics by name instead of the pattern" $.where $.vendor $block.name $type) -}}
{{- end -}}
{{- $topics = append $topics (dict "eventType" $type "name" $block.name) -}}
{{- end -}}
{{- end -}}
{{- toJson $topics -}}
{{- end -}}

{{/*
scheme, host and port of a URL, as JSON; call with (dict "url" U "what" "kafka.schemaRegistryUrl").
The port is the URL's, or 443 (https) / 80 (http). Fails naming the value when it cannot tell.
*/}}
{{- define "bridge.urlEndpoint" -}}
{{- $parsed := urlParse .url -}}
{{- $scheme := $parsed.scheme -}}
{{- if not (has $scheme (list "http" "https")) -}}
{{- fail (printf "%s %q: expected an http:// or https:// URL" .what .url) -}}
{{- end -}}
{{- $hostport := regexReplaceAll "^.*@" $parsed.host "" -}}
{{- $host := $hostport -}}
{{- $port := ternary 443 80 (eq $scheme "https") -}}
{{- if regexMatch ":[0-9]*$" $hostport -}}
{{- $host = regexReplaceAll ":[0-9]*$" $hostport "" -}}
{{- $portText := regexFind "[0-9]*$" $hostport -}}
{{- if not $portText -}}
{{- fail (printf "%s %q: empty port" .what .url) -}}
{{- end -}}
{{- $port = atoi $portText -}}
{{- end -}}
{{- if or (not $host) (lt $port 1) (gt $port 65535) -}}
{{- fail (printf "%s %q: cannot tell the host and port to open in the NetworkPolicy" .what .url) -}}
{{- end -}}
{{- toJson (dict "scheme" $scheme "host" $host "port" $port) -}}
{{- end -}}

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
The Secret holding the Schema Registry's CA bundle, or "" when the bridge's default (certifi's
roots) is used. Only with a kafka.schemaRegistryUrl.
*/}}
{{- define "bridge.registryCaSecretName" -}}
{{- $tls := .Values.kafka.schemaRegistryTls -}}
{{- if .Values.kafka.schemaRegistryUrl -}}
{{- if $tls.existingSecret -}}
{{- $tls.existingSecret -}}
{{- else if $tls.caBundle -}}
{{- printf "%s-schema-registry-ca" (include "bridge.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bridge.registryCaSecretKey" -}}
{{- if .Values.kafka.schemaRegistryTls.existingSecret -}}{{ .Values.kafka.schemaRegistryTls.existingSecretKey }}{{- else -}}ca.crt{{- end -}}
{{- end -}}

{{/* The Secret with the client certificate and key presented to the Schema Registry, or "". */}}
{{- define "bridge.registryClientCertSecret" -}}
{{- if .Values.kafka.schemaRegistryUrl -}}{{ .Values.kafka.schemaRegistryTls.clientCert.existingSecret }}{{- end -}}
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
{{- $sized := list -}}
{{- range $w := $workloads -}}
{{- $maxPods := $w.replicas -}}
{{- if $w.autoscaling.enabled -}}{{- $maxPods = $w.autoscaling.maxReplicas -}}{{- end -}}
{{- if $w.keda.enabled -}}{{- $maxPods = $w.keda.maxReplicaCount -}}{{- end -}}
{{- $sized = append $sized (set $w "maxPods" (max 1 (int $maxPods))) -}}
{{- end -}}
{{- toJson $sized -}}
{{- end -}}

{{/*
The bridge configuration (bridge/config/) of one workload, as YAML; call with
(dict "root" $ "workload" $w). Only the workload's vendors are in it.
*/}}
{{- define "bridge.configYaml" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $kafka := dict "bootstrap_servers" $v.kafka.bootstrapServers "group_prefix" $v.kafka.groupPrefix "security_protocol" $v.kafka.securityProtocol -}}
{{- $secrets := include "bridge.secretsDir" $root -}}
{{- if include "bridge.oauth" $root -}}
{{- $oauth := $v.kafka.sasl.oauthbearer -}}
{{- $_ := set $kafka "sasl_mechanism" "OAUTHBEARER" -}}
{{- $_ := set $kafka "sasl_oauthbearer_token_endpoint_url" $oauth.tokenEndpointUrl -}}
{{- $_ := set $kafka "sasl_oauthbearer_client_id" $oauth.clientId -}}
{{- $_ := set $kafka "sasl_oauthbearer_client_secret" (dict "file" (printf "%s/kafka-oauth-client-secret" $secrets)) -}}
{{- with $oauth.scope -}}{{- $_ := set $kafka "sasl_oauthbearer_scope" . -}}{{- end -}}
{{- with $oauth.extensions -}}{{- $_ := set $kafka "sasl_oauthbearer_extensions" . -}}{{- end -}}
{{- else if include "bridge.sasl" $root -}}
{{- $_ := set $kafka "sasl_mechanism" $v.kafka.sasl.mechanism -}}
{{- $_ := set $kafka "sasl_username" $v.kafka.sasl.username -}}
{{- $_ := set $kafka "sasl_password" (dict "file" (printf "%s/kafka-sasl-password" $secrets)) -}}
{{- end -}}
{{- if and (include "bridge.tls" $root) (include "bridge.caSecretName" $root) -}}
{{- $_ := set $kafka "ssl_ca_location" (printf "%s/ca.crt" (include "bridge.caDir" $root)) -}}
{{- end -}}
{{- if and (include "bridge.tls" $root) $v.kafka.tls.clientCert.existingSecret -}}
{{- $_ := set $kafka "ssl_certificate_location" (printf "%s/tls.crt" (include "bridge.clientCertDir" $root)) -}}
{{- $_ := set $kafka "ssl_key_location" (printf "%s/tls.key" (include "bridge.clientCertDir" $root)) -}}
{{- end -}}
{{- if $v.kafka.schemaRegistryUrl -}}
{{- $registryTls := $v.kafka.schemaRegistryTls -}}
{{- $_ := set $kafka "schema_registry_url" $v.kafka.schemaRegistryUrl -}}
{{- if $v.kafka.schemaRegistryUsername -}}
{{- $_ := set $kafka "schema_registry_username" $v.kafka.schemaRegistryUsername -}}
{{- $_ := set $kafka "schema_registry_password" (dict "file" (printf "%s/schema-registry-password" $secrets)) -}}
{{- end -}}
{{- if $v.kafka.schemaRegistryBearerAuth -}}
{{- $_ := set $kafka "schema_registry_bearer_token" (dict "file" (printf "%s/schema-registry-bearer-token" $secrets)) -}}
{{- with $v.kafka.schemaRegistryLogicalCluster -}}{{- $_ := set $kafka "schema_registry_logical_cluster" . -}}{{- end -}}
{{- end -}}
{{- if include "bridge.registryCaSecretName" $root -}}
{{- $_ := set $kafka "schema_registry_ssl_ca_location" (printf "%s/ca.crt" (include "bridge.registryCaDir" $root)) -}}
{{- end -}}
{{- if include "bridge.registryClientCertSecret" $root -}}
{{- $_ := set $kafka "schema_registry_ssl_certificate_location" (printf "%s/tls.crt" (include "bridge.registryClientCertDir" $root)) -}}
{{- $_ := set $kafka "schema_registry_ssl_key_location" (printf "%s/tls.key" (include "bridge.registryClientCertDir" $root)) -}}
{{- if $registryTls.clientCert.encryptedKey -}}
{{- $_ := set $kafka "schema_registry_ssl_key_password" (dict "file" (printf "%s/schema-registry-ssl-key-password" $secrets)) -}}
{{- end -}}
{{- end -}}
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
{{- /* A vendor-wide rate limit, shared by the most pods this Deployment can have. */ -}}
{{- if $vendor.rateLimitTotalRps -}}
{{- $_ := set $entry "rate_limit_rps" (round (divf $vendor.rateLimitTotalRps $.workload.maxPods) 3) -}}
{{- end -}}
{{- if $vendor.rateLimitTotalBurst -}}
{{- $_ := set $entry "rate_limit_burst" (max 1 (floor (divf $vendor.rateLimitTotalBurst $.workload.maxPods)) | int) -}}
{{- end -}}
{{- $_ := set $vendors $name $entry -}}
{{- end -}}
{{- $config := deepCopy $v.config -}}
{{- $_ := set $config "kafka" $kafka -}}
{{- $_ := set $config "vendors" $vendors -}}
{{- $_ := set $config "http" (dict "host" "0.0.0.0" "port" (int $v.metrics.port)) -}}
{{- $_ := set $config "schemas_dir" "/app/schemas" -}}
{{- toYaml $config -}}
{{- end -}}

{{/*
terminationGracePeriodSeconds: the whole shutdown, in order: drain (config.shutdown_deadline_s),
then the producer's close flush (terminationGraceProducerFlushSeconds), then the margin; or an
explicit value, checked to cover the drain and the flush.
*/}}
{{- define "bridge.terminationGracePeriodSeconds" -}}
{{- $deadline := float64 (.Values.config.shutdown_deadline_s | default 25) -}}
{{- $flush := int .Values.terminationGraceProducerFlushSeconds -}}
{{- if .Values.terminationGracePeriodSeconds -}}
{{- if lt (float64 .Values.terminationGracePeriodSeconds) (addf $deadline $flush) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be at least config.shutdown_deadline_s (%v) + terminationGraceProducerFlushSeconds (%v): Kubernetes would kill the bridge in the middle of its drain or its producer's flush" .Values.terminationGracePeriodSeconds $deadline $flush) -}}
{{- end -}}
{{- int .Values.terminationGracePeriodSeconds -}}
{{- else -}}
{{- add (int (ceil $deadline)) $flush (int .Values.terminationGraceMarginSeconds) -}}
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
{{- if and (eq $w.keda.lagSource "prometheus") (not $w.keda.prometheus.serverAddress) -}}
{{- fail (printf "%s: keda.prometheus.serverAddress is required with keda.lagSource prometheus" $where) -}}
{{- end -}}
{{- if ne $w.keda.lagSource "prometheus" -}}
{{- range $vendor := $w.vendors -}}
{{- $_ := include "bridge.kedaKafkaTopics" (dict "root" $ "vendor" $vendor "where" $where) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $_ := include "bridge.image" . -}}
{{- range $name := keys $v.vendors | sortAlpha -}}
{{- $vendor := index $v.vendors $name -}}
{{- if $vendor.enabled -}}
{{- range $setting := $vendor.requiredSettings -}}
{{- if not (index ($vendor.settings | default dict) $setting) -}}
{{- fail (printf "vendors.%s.settings.%s is required: the %s pipeline cannot start without it (or set vendors.%s.enabled: false)" $name $setting $name $name) -}}
{{- end -}}
{{- end -}}
{{- if not $v.credentials.existingSecret -}}
{{- range $key := $vendor.secretKeys -}}
{{- if not (index $v.credentials.values $key) -}}
{{- fail (printf "credentials.values.%s is required by vendor %s (pass it with --set-file credentials.values.%s=./%s.txt, or use credentials.existingSecret, or set vendors.%s.enabled: false)" $key $name $key $key $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $vendor.rateLimitTotalRps (($vendor.options | default dict).rate_limit_rps) -}}
{{- fail (printf "vendors.%s: set rateLimitTotalRps (for all pods) or options.rate_limit_rps (per pod), not both" $name) -}}
{{- end -}}
{{- if and $vendor.rateLimitTotalBurst (($vendor.options | default dict).rate_limit_burst) -}}
{{- fail (printf "vendors.%s: set rateLimitTotalBurst (for all pods) or options.rate_limit_burst (per pod), not both" $name) -}}
{{- end -}}
{{- range $type := $vendor.eventTypes -}}
{{- $_ := include "bridge.topicBlocks" (dict "root" $ "eventType" $type) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if include "bridge.oauth" . -}}
{{- range $key := list "tokenEndpointUrl" "clientId" -}}
{{- if not (index $v.kafka.sasl.oauthbearer $key) -}}
{{- fail (printf "kafka.sasl.oauthbearer.%s is required with kafka.sasl.mechanism OAUTHBEARER" $key) -}}
{{- end -}}
{{- end -}}
{{- if and (not $v.credentials.existingSecret) (not (index $v.credentials.values "kafka-oauth-client-secret")) -}}
{{- fail "credentials.values.kafka-oauth-client-secret is required with kafka.sasl.mechanism OAUTHBEARER (or use credentials.existingSecret)" -}}
{{- end -}}
{{- else if include "bridge.sasl" . -}}
{{- if not $v.kafka.sasl.username -}}
{{- fail (printf "kafka.sasl.username is required with kafka.securityProtocol %s" $v.kafka.securityProtocol) -}}
{{- end -}}
{{- if and (not $v.credentials.existingSecret) (not (index $v.credentials.values "kafka-sasl-password")) -}}
{{- fail (printf "credentials.values.kafka-sasl-password is required with kafka.securityProtocol %s (or use credentials.existingSecret)" $v.kafka.securityProtocol) -}}
{{- end -}}
{{- end -}}
{{- if and $v.kafka.tls.clientCert.existingSecret (not (include "bridge.tls" .)) -}}
{{- fail (printf "kafka.tls.clientCert needs kafka.securityProtocol SSL or SASL_SSL, not %s" $v.kafka.securityProtocol) -}}
{{- end -}}
{{- if $v.kafka.schemaRegistryUsername -}}
{{- if not $v.kafka.schemaRegistryUrl -}}
{{- fail "kafka.schemaRegistryUsername is set but kafka.schemaRegistryUrl is empty" -}}
{{- end -}}
{{- if and (not $v.credentials.existingSecret) (not (index $v.credentials.values "schema-registry-password")) -}}
{{- fail "credentials.values.schema-registry-password is required with kafka.schemaRegistryUsername (or use credentials.existingSecret)" -}}
{{- end -}}
{{- end -}}
{{- $registryTls := $v.kafka.schemaRegistryTls -}}
{{- if $v.kafka.schemaRegistryBearerAuth -}}
{{- if not $v.kafka.schemaRegistryUrl -}}
{{- fail "kafka.schemaRegistryBearerAuth is set but kafka.schemaRegistryUrl is empty" -}}
{{- end -}}
{{- if $v.kafka.schemaRegistryUsername -}}
{{- fail "kafka.schemaRegistryUsername and kafka.schemaRegistryBearerAuth: the Schema Registry takes basic auth or a bearer token, not both" -}}
{{- end -}}
{{- if and (not $v.credentials.existingSecret) (not (index $v.credentials.values "schema-registry-bearer-token")) -}}
{{- fail "credentials.values.schema-registry-bearer-token is required with kafka.schemaRegistryBearerAuth (or use credentials.existingSecret)" -}}
{{- end -}}
{{- else if $v.kafka.schemaRegistryLogicalCluster -}}
{{- fail "kafka.schemaRegistryLogicalCluster is sent with a bearer token only: set kafka.schemaRegistryBearerAuth: true" -}}
{{- end -}}
{{- if and $registryTls.caBundle $registryTls.existingSecret -}}
{{- fail "kafka.schemaRegistryTls: set caBundle or existingSecret, not both" -}}
{{- end -}}
{{- if or $registryTls.caBundle $registryTls.existingSecret $registryTls.clientCert.existingSecret -}}
{{- if not (hasPrefix "https://" $v.kafka.schemaRegistryUrl) -}}
{{- fail (printf "kafka.schemaRegistryTls needs an https:// kafka.schemaRegistryUrl, not %q" $v.kafka.schemaRegistryUrl) -}}
{{- end -}}
{{- end -}}
{{- if $registryTls.clientCert.encryptedKey -}}
{{- if not (include "bridge.registryClientCertSecret" .) -}}
{{- fail "kafka.schemaRegistryTls.clientCert.encryptedKey needs kafka.schemaRegistryTls.clientCert.existingSecret (and kafka.schemaRegistryUrl)" -}}
{{- end -}}
{{- if and (not $v.credentials.existingSecret) (not (index $v.credentials.values "schema-registry-ssl-key-password")) -}}
{{- fail "credentials.values.schema-registry-ssl-key-password is required with kafka.schemaRegistryTls.clientCert.encryptedKey (or use credentials.existingSecret)" -}}
{{- end -}}
{{- end -}}
{{- if $v.kafka.schemaRegistryUrl -}}
{{- $_ := include "bridge.urlEndpoint" (dict "url" $v.kafka.schemaRegistryUrl "what" "kafka.schemaRegistryUrl") -}}
{{- end -}}
{{- if $v.proxy.httpsProxy -}}
{{- $_ := include "bridge.urlEndpoint" (dict "url" $v.proxy.httpsProxy "what" "proxy.httpsProxy") -}}
{{- end -}}
{{- if and $v.vendorCa.existingSecret $v.vendorCa.existingConfigMap -}}
{{- fail "vendorCa: set existingSecret or existingConfigMap, not both" -}}
{{- end -}}
{{- if and $v.kafka.tls.caBundle $v.kafka.tls.existingSecret -}}
{{- fail "kafka.tls: set caBundle or existingSecret, not both" -}}
{{- end -}}
{{- range $type := list "order" "product_view" -}}
{{- range $block := include "bridge.topicBlocks" (dict "root" $ "eventType" $type) | fromJsonArray -}}
{{- if and (eq ($block.format | default "avro") "confluent") (not $v.kafka.schemaRegistryUrl) -}}
{{- fail (printf "kafka.schemaRegistryUrl is required when a topic's format is confluent (config.topics: %s)" $block.name) -}}
{{- end -}}
{{- end -}}
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
{{- $_ := set $data "schema-registry-ca" $root.Values.kafka.schemaRegistryTls.caBundle -}}
{{- toJson $data | sha256sum -}}
{{- end -}}

{{/* The credential keys one workload mounts. */}}
{{- define "bridge.workloadSecretKeys" -}}
{{- $keys := .workload.secretKeys | default list -}}
{{- if include "bridge.oauth" .root -}}
{{- $keys = append $keys "kafka-oauth-client-secret" -}}
{{- else if include "bridge.sasl" .root -}}
{{- $keys = append $keys "kafka-sasl-password" -}}
{{- end -}}
{{- if and .root.Values.kafka.schemaRegistryUrl .root.Values.kafka.schemaRegistryUsername -}}
{{- $keys = append $keys "schema-registry-password" -}}
{{- end -}}
{{- if and .root.Values.kafka.schemaRegistryUrl .root.Values.kafka.schemaRegistryBearerAuth -}}
{{- $keys = append $keys "schema-registry-bearer-token" -}}
{{- end -}}
{{- if and (include "bridge.registryClientCertSecret" .root) .root.Values.kafka.schemaRegistryTls.clientCert.encryptedKey -}}
{{- $keys = append $keys "schema-registry-ssl-key-password" -}}
{{- end -}}
{{- toJson ($keys | uniq) -}}
{{- end -}}


{{/* HTTPS_PROXY / NO_PROXY (both spellings) for the bridge container, as a YAML list. */}}
{{- define "bridge.proxyEnv" -}}
{{- $env := list -}}
{{- if .Values.proxy.httpsProxy -}}
{{- $noProxy := list ".svc" ".cluster.local" "localhost" "127.0.0.1" -}}
{{- if .Values.kafka.schemaRegistryUrl -}}
{{- $registry := include "bridge.urlEndpoint" (dict "url" .Values.kafka.schemaRegistryUrl "what" "kafka.schemaRegistryUrl") | fromJson -}}
{{- $noProxy = append $noProxy $registry.host -}}
{{- end -}}
{{- range $entry := splitList "," .Values.proxy.noProxy -}}
{{- if trim $entry -}}{{- $noProxy = append $noProxy (trim $entry) -}}{{- end -}}
{{- end -}}
{{- $noProxyText := $noProxy | uniq | join "," -}}
{{- range $name := list "HTTPS_PROXY" "https_proxy" -}}
{{- $env = append $env (dict "name" $name "value" $.Values.proxy.httpsProxy) -}}
{{- end -}}
{{- range $name := list "NO_PROXY" "no_proxy" -}}
{{- $env = append $env (dict "name" $name "value" $noProxyText) -}}
{{- end -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}
