// Command manifests renders deploy/kubernetes from the Helm chart (make manifests).
//
//	go run ./manifests -chart ../prolific-receiver -values ../kubernetes-values.yaml -out ../../kubernetes
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/prolific-receiver/receiver/deploy/helm/chartcheck"
)

func main() {
	chart := flag.String("chart", "../prolific-receiver", "chart directory")
	values := flag.String("values", "../kubernetes-values.yaml", "values file")
	out := flag.String("out", "../../kubernetes", "output directory")
	flag.Parse()
	if err := chartcheck.WriteManifests(*chart, *values, *out); err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		os.Exit(1)
	}
	fmt.Println("manifests: wrote", *out)
}
