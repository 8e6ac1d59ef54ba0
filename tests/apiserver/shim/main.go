// apiext-shim: the upstream Kubernetes apiextensions-apiserver (the code that
// serves CustomResourceDefinitions inside kube-apiserver), run standalone for
// shopsync's tests. Two things are added on top of the upstream server:
//
//   - /api and /apis discovery. In kube-apiserver the aggregator answers these;
//     the standalone server does not, and kubectl refuses to work without them.
//   - OpenAPI v2 publishing, which starts the CRD OpenAPI controllers that
//     kubectl needs to apply custom resources.
//
// With SHOPSYNC_APIEXT_NO_AUTH=1 (or APIEXT_NO_AUTH=1) authentication and
// authorization are switched off, so tests need no client PKI. Loopback only.
package main

import (
	"encoding/json"
	"net/http"
	"os"
	"sort"
	"sync/atomic"

	"github.com/spf13/cobra"
	crdv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	extserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	"k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	crdlisters "k8s.io/apiextensions-apiserver/pkg/client/listers/apiextensions/v1"
	extopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	endpointsopenapi "k8s.io/apiserver/pkg/endpoints/openapi"
	genericserver "k8s.io/apiserver/pkg/server"
	utilopenapi "k8s.io/apiserver/pkg/util/openapi"
	"k8s.io/component-base/cli"
)

const builtinGroup = "apiextensions.k8s.io"

// discovery answers /api and /apis from the CRD informer cache. The lister is
// set once the server exists; until then only the builtin group is listed.
type discovery struct {
	lister atomic.Pointer[crdlisters.CustomResourceDefinitionLister]
}

func isEstablished(crd *crdv1.CustomResourceDefinition) bool {
	for _, cond := range crd.Status.Conditions {
		if cond.Type == crdv1.Established {
			return cond.Status == crdv1.ConditionTrue
		}
	}
	return false
}

func versionFor(group, version string) metav1.GroupVersionForDiscovery {
	return metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + version, Version: version}
}

// groups lists every group served by an Established CRD, sorted by name,
// after the builtin apiextensions group.
func (d *discovery) groups() *metav1.APIGroupList {
	builtin := versionFor(builtinGroup, "v1")
	out := &metav1.APIGroupList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
		Groups: []metav1.APIGroup{{
			Name:             builtinGroup,
			Versions:         []metav1.GroupVersionForDiscovery{builtin},
			PreferredVersion: builtin,
		}},
	}
	lister := d.lister.Load()
	if lister == nil {
		return out
	}
	crds, err := (*lister).List(labels.Everything())
	if err != nil {
		return out
	}
	byName := map[string]*metav1.APIGroup{}
	seen := map[string]bool{}
	for _, crd := range crds {
		if !isEstablished(crd) {
			continue
		}
		name := crd.Spec.Group
		group := byName[name]
		if group == nil {
			group = &metav1.APIGroup{Name: name}
			byName[name] = group
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			gv := versionFor(name, v.Name)
			if !seen[gv.GroupVersion] {
				seen[gv.GroupVersion] = true
				group.Versions = append(group.Versions, gv)
			}
			if v.Storage {
				group.PreferredVersion = gv
			}
		}
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		group := byName[name]
		if group.PreferredVersion.Version == "" && len(group.Versions) > 0 {
			group.PreferredVersion = group.Versions[0]
		}
		out.Groups = append(out.Groups, *group)
	}
	return out
}

// wrap serves the two discovery roots and hands everything else to next.
// It sits inside the handler chain, so authn/authz still apply when enabled.
func (d *discovery) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reply any
		switch r.URL.Path {
		case "/api", "/api/":
			// No core group here: an empty version list tells kubectl so.
			reply = &metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{}}
		case "/apis", "/apis/":
			reply = d.groups()
		default:
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(reply)
	})
}

func noAuthRequested() bool {
	return os.Getenv("SHOPSYNC_APIEXT_NO_AUTH") == "1" || os.Getenv("APIEXT_NO_AUTH") == "1"
}

func serve(cmd *cobra.Command, opts *options.CustomResourceDefinitionsServerOptions, disc *discovery) error {
	if noAuthRequested() {
		opts.RecommendedOptions.Authentication = nil
		opts.RecommendedOptions.Authorization = nil
	}
	if err := opts.Complete(); err != nil {
		return err
	}
	if err := opts.Validate(); err != nil {
		return err
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	generic := cfg.GenericConfig
	// Without an OpenAPI config the CRD OpenAPI controllers never start.
	defs := utilopenapi.GetOpenAPIDefinitionsWithoutDisabledFeatures(extopenapi.GetOpenAPIDefinitions)
	generic.OpenAPIConfig = genericserver.DefaultOpenAPIConfig(defs, endpointsopenapi.NewDefinitionNamer(extserver.Scheme))
	chain := generic.BuildHandlerChainFunc
	generic.BuildHandlerChainFunc = func(h http.Handler, c *genericserver.Config) http.Handler {
		return chain(disc.wrap(h), c)
	}
	server, err := cfg.Complete().New(genericserver.NewEmptyDelegate())
	if err != nil {
		return err
	}
	lister := server.Informers.Apiextensions().V1().CustomResourceDefinitions().Lister()
	disc.lister.Store(&lister)
	return server.GenericAPIServer.PrepareRun().RunWithContext(cmd.Context())
}

func main() {
	opts := options.NewCustomResourceDefinitionsServerOptions(os.Stdout, os.Stderr)
	disc := &discovery{}
	cmd := &cobra.Command{
		Use:   "apiext-shim",
		Short: "standalone apiextensions-apiserver with discovery, for tests",
		PersistentPreRunE: func(*cobra.Command, []string) error {
			return opts.ServerRunOptions.ComponentGlobalsRegistry.Set()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd, opts, disc)
		},
	}
	cmd.SetContext(genericserver.SetupSignalContext())
	opts.AddFlags(cmd.Flags())
	os.Exit(cli.Run(cmd))
}
