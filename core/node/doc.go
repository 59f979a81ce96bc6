// Package node is the node agent: it registers its Node, renews the Node's
// Lease as a heartbeat, leases a pod subnet from the cluster CIDR, and runs
// the pods bound to the node through a runtime.v1 plugin and a pod network,
// reporting their status through the pods/status subresource.
//
// Each pod has one worker goroutine that converges the runtime on the pod's
// spec (level-triggered: every pass reads the runtime's state again), so an
// agent that restarts adopts the containers it finds instead of starting
// duplicates. Many agents can share one client and one pod watch
// (PodWatch), which is how one process hosts thousands of simulated nodes.
//
// Logs, exec and image import reach the agent through the API server
// (core/apiserver's pod proxy) over HTTPS with mutual TLS: the agent serves
// a self-signed certificate that it publishes on its Node (annotation
// skiff.sh/agent-cert, pinned by the API server) and accepts only client
// certificates signed by the cluster CA with the common name
// ProxyClientName, which only the API server can obtain.
package node
