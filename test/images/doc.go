// Package images builds skiff's test and example OCI images without a
// registry or docker: a busybox image from the host's static busybox and the
// example web app (./web) compiled as a static Go binary on top of it. It
// writes them as tar archives containerd's Import accepts and can serve them
// from an in-process registry on loopback for the pull path.
package images
