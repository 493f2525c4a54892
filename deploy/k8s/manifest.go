// Package k8s renders pairpad's Kubernetes manifests (kustomize overlays
// under base/ and overlays/) and checks what they produce: strict decoding
// into the Kubernetes API types, probes, resources, security, images, the
// environment against shared/config, and how objects refer to each other.
// The tests run every check on every overlay; Check can also be pointed at
// any other kustomization.
package k8s

import (
	"errors"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Manifests is everything one kustomization builds, decoded into the
// Kubernetes API types.
type Manifests struct {
	Namespaces      []*corev1.Namespace
	ConfigMaps      []*corev1.ConfigMap
	Secrets         []*corev1.Secret
	Services        []*corev1.Service
	Deployments     []*appsv1.Deployment
	StatefulSets    []*appsv1.StatefulSet
	HPAs            []*autoscalingv2.HorizontalPodAutoscaler
	PDBs            []*policyv1.PodDisruptionBudget
	Ingresses       []*networkingv1.Ingress
	NetworkPolicies []*networkingv1.NetworkPolicy
}

// Load builds the kustomization in dir with the kustomize API (as
// `kubectl kustomize dir` would) and decodes every object strictly: a
// misspelled or unknown field, a duplicate field, a kind this package does not
// know, are errors naming the object and the field's path.
func Load(dir string) (*Manifests, error) {
	rm, err := build(dir)
	if err != nil {
		return nil, err
	}
	m := &Manifests{}
	var errs []error
	for _, r := range rm.Resources() {
		id := r.GetKind() + "/" + r.GetName()
		data, err := r.MarshalJSON()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		if err := m.add(r.GetApiVersion(), r.GetKind(), data); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// Render returns the YAML that `kubectl kustomize dir` would print.
func Render(dir string) ([]byte, error) {
	rm, err := build(dir)
	if err != nil {
		return nil, err
	}
	return rm.AsYaml()
}

// build runs kustomize on dir, with its default (root-only) load restrictions.
func build(dir string) (resmap.ResMap, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return rm, nil
}

// add decodes one object into its typed slot.
func (m *Manifests) add(apiVersion, kind string, data []byte) error {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return decodeInto(data, &m.Namespaces)
	case "v1 ConfigMap":
		return decodeInto(data, &m.ConfigMaps)
	case "v1 Secret":
		return decodeInto(data, &m.Secrets)
	case "v1 Service":
		return decodeInto(data, &m.Services)
	case "apps/v1 Deployment":
		return decodeInto(data, &m.Deployments)
	case "apps/v1 StatefulSet":
		return decodeInto(data, &m.StatefulSets)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return decodeInto(data, &m.HPAs)
	case "policy/v1 PodDisruptionBudget":
		return decodeInto(data, &m.PDBs)
	case "networking.k8s.io/v1 Ingress":
		return decodeInto(data, &m.Ingresses)
	case "networking.k8s.io/v1 NetworkPolicy":
		return decodeInto(data, &m.NetworkPolicies)
	}
	return fmt.Errorf("apiVersion %q kind %q is not one the checks know: add it to Manifests", apiVersion, kind)
}

// decodeInto decodes data strictly (case-sensitive field names, no unknown
// or duplicate fields) into a new T and appends it to dst.
func decodeInto[T any](data []byte, dst *[]*T) error {
	v := new(T)
	strict, err := sigsjson.UnmarshalStrict(data, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return errors.Join(strict...)
	}
	*dst = append(*dst, v)
	return nil
}

// workload is a Deployment or a StatefulSet: something that runs pods.
type workload struct {
	Kind, Name, Namespace string
	Replicas              *int32
	Template              *corev1.PodTemplateSpec
	Selector              *metav1.LabelSelector
}

// ID names the workload as problems do.
func (w workload) ID() string { return w.Kind + "/" + w.Name }

// workloads lists every Deployment and StatefulSet in a stable order.
func (m *Manifests) workloads() []workload {
	var out []workload
	for _, d := range m.Deployments {
		out = append(out, workload{"Deployment", d.Name, d.Namespace, d.Spec.Replicas, &d.Spec.Template, d.Spec.Selector})
	}
	for _, s := range m.StatefulSets {
		out = append(out, workload{"StatefulSet", s.Name, s.Namespace, s.Spec.Replicas, &s.Spec.Template, s.Spec.Selector})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out
}

// configMap returns the ConfigMap name in namespace ns, or nil.
func (m *Manifests) configMap(ns, name string) *corev1.ConfigMap {
	for _, c := range m.ConfigMaps {
		if c.Namespace == ns && c.Name == name {
			return c
		}
	}
	return nil
}

// secret returns the Secret name in namespace ns, or nil.
func (m *Manifests) secret(ns, name string) *corev1.Secret {
	for _, s := range m.Secrets {
		if s.Namespace == ns && s.Name == name {
			return s
		}
	}
	return nil
}

// service returns the Service name in namespace ns, or nil.
func (m *Manifests) service(ns, name string) *corev1.Service {
	for _, s := range m.Services {
		if s.Namespace == ns && s.Name == name {
			return s
		}
	}
	return nil
}
