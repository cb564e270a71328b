// Package world reads a folder of repositories as they sit on disk (an
// organisation's repositories cloned side by side) so that simulate and
// validate --world can run the real decision engine offline:
//
//	DIR/<owner>/<repo>/dispatching.yml          (or .github/dispatching.yml)
//	DIR/<owner>/<repo>/.github/workflows/*.yml  (optional: workflow_dispatch and its inputs)
//	DIR/<owner>/<repo>/repo.yml                 (optional: default_branch, default "main")
//
// The lookup order of dispatching.yml is the service's: the root file wins,
// an empty root file means "missing" and hides the .github one.
package world
