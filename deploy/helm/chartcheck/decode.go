package chartcheck

import (
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Object is a rendered document decoded into its API type.
type Object struct {
	Doc
	Kind string
	Name string
	Obj  any // e.g. *appsv1.Deployment
}

// newObject returns an empty value of the API type for apiVersion and kind;
// the chart renders nothing else.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 Secret":
		return &corev1.Secret{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "networking.k8s.io/v1 Ingress":
		return &networkingv1.Ingress{}, nil
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}, nil
	case "monitoring.coreos.com/v1 PrometheusRule":
		return &monitoringv1.PrometheusRule{}, nil
	}
	return nil, fmt.Errorf("no API type known for apiVersion %q kind %q", apiVersion, kind)
}

// Decode decodes every document strictly: a field the API type does not
// have, a duplicate key or a value of the wrong type is an error.
func Decode(docs []Doc) ([]Object, error) {
	var objs []Object
	for _, d := range docs {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(d.YAML), &tm); err != nil {
			return nil, fmt.Errorf("%s: %w", d.Source, err)
		}
		obj, err := newObject(tm.APIVersion, tm.Kind)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.Source, err)
		}
		if err := yaml.UnmarshalStrict([]byte(d.YAML), obj); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", d.Source, tm.Kind, err)
		}
		meta, ok := obj.(metav1.Object)
		if !ok || meta.GetName() == "" {
			return nil, fmt.Errorf("%s: %s has no metadata.name", d.Source, tm.Kind)
		}
		objs = append(objs, Object{Doc: d, Kind: tm.Kind, Name: meta.GetName(), Obj: obj})
	}
	return objs, nil
}
