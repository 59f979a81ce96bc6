// Command build-example writes the example web app image as a tar archive the
// one-node cluster imports into containerd:
//
//	go run ./test/images/cmd/build-example -o bin/images/web.tar
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/skiff-sh/skiff/test/images"
)

func main() {
	out := flag.String("o", "bin/images/web.tar", "path of the image archive to write")
	ref := flag.String("ref", images.WebRef, "reference to tag the image with")
	busybox := flag.Bool("busybox", false, "write the busybox test image instead of the web app")
	flag.Parse()

	img, err := images.Web()
	if *busybox {
		img, err = images.Busybox()
	}
	if err == nil {
		err = images.WriteTarball(*out, *ref, img)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-example:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s as %s\n", *out, *ref)
}
