package chartcheck

import (
	"errors"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

// CheckRefs checks what the API server would only find out at run time:
// selectors that match the pods, ports, volumes, ConfigMaps, Secrets and
// Services that exist; external names Secrets made outside the chart.
func CheckRefs(objs []Object, external ...string) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names, pod, claims := workloads(objs, bad)
	if pod == nil {
		return errors.New("no Deployment or StatefulSet rendered")
	}
	has := func(kind, name string) bool { return names[kind+"/"+name] }
	secretOK := func(name string) bool { return has("Secret", name) || slices.Contains(external, name) }
	ports := checkPod(pod.Spec, claims, has, secretOK, bad)
	checkSelectors(objs, labels.Set(pod.Labels), ports, has, bad)
	return errors.Join(errs...)
}

// workloads lists the objects rendered (kind/name), checking each name and
// the workload's selector; pod is the workload's pod template (nil: none).
func workloads(objs []Object, bad func(string, ...any)) (names map[string]bool, pod *corev1.PodTemplateSpec, claims []corev1.PersistentVolumeClaim) {
	names = map[string]bool{}
	for _, o := range objs {
		key := o.Kind + "/" + o.Name
		if names[key] {
			bad("%s rendered twice", key)
		}
		names[key] = true
		for _, msg := range nameErrors(o) {
			bad("%s: %s", key, msg)
		}
		switch w := o.Obj.(type) {
		case *appsv1.Deployment:
			pod = &w.Spec.Template
			sel, err := metaSelector(w.Spec.Selector.MatchLabels)
			if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
				bad("Deployment %s: selector does not match its pod labels", w.Name)
			}
		case *appsv1.StatefulSet:
			pod = &w.Spec.Template
			claims = w.Spec.VolumeClaimTemplates
			sel, err := metaSelector(w.Spec.Selector.MatchLabels)
			if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
				bad("StatefulSet %s: selector does not match its pod labels", w.Name)
			}
		}
	}
	return names, pod, claims
}

// checkPod checks what the pod refers to (service account, volumes,
// config maps, secrets, probe ports) and returns its container ports by name.
func checkPod(spec corev1.PodSpec, claims []corev1.PersistentVolumeClaim, has func(kind, name string) bool, secretOK func(string) bool, bad func(string, ...any)) map[string]int32 {
	if spec.ServiceAccountName != "" && spec.ServiceAccountName != "default" && !has("ServiceAccount", spec.ServiceAccountName) {
		bad("pod: ServiceAccount %s not rendered", spec.ServiceAccountName)
	}
	vols := map[string]bool{}
	for _, v := range spec.Volumes {
		vols[v.Name] = true
		if v.ConfigMap != nil && !has("ConfigMap", v.ConfigMap.Name) {
			bad("volume %s: ConfigMap %s not rendered", v.Name, v.ConfigMap.Name)
		}
		if v.Secret != nil && !secretOK(v.Secret.SecretName) {
			bad("volume %s: Secret %s not rendered", v.Name, v.Secret.SecretName)
		}
	}
	for _, c := range claims {
		vols[c.Name] = true
	}
	ports := map[string]int32{}
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				bad("container %s: volume %s mounted but not defined", c.Name, m.Name)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil && !has("ConfigMap", ef.ConfigMapRef.Name) {
				bad("container %s: envFrom ConfigMap %s not rendered", c.Name, ef.ConfigMapRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !secretOK(e.ValueFrom.SecretKeyRef.Name) {
				bad("env %s: Secret %s not rendered", e.Name, e.ValueFrom.SecretKeyRef.Name)
			}
		}
		for _, p := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
			if p == nil || p.HTTPGet == nil {
				bad("container %s: a probe is missing", c.Name)
				continue
			}
			checkPort(p.HTTPGet.Port, ports, bad, "probe "+p.HTTPGet.Path)
		}
	}
	return ports
}

// checkSelectors checks that what selects the pods (services, budgets,
// policies, monitors) matches them and names their ports.
func checkSelectors(objs []Object, podLabels labels.Set, ports map[string]int32, has func(kind, name string) bool, bad func(string, ...any)) {
	for _, o := range objs {
		switch w := o.Obj.(type) {
		case *corev1.Service:
			if !labels.SelectorFromSet(w.Spec.Selector).Matches(podLabels) || len(w.Spec.Selector) == 0 {
				bad("Service %s: selector does not match the pods", w.Name)
			}
			for _, p := range w.Spec.Ports {
				checkPort(p.TargetPort, ports, bad, "Service "+w.Name)
			}
		case *policyv1.PodDisruptionBudget:
			sel, err := metaSelector(w.Spec.Selector.MatchLabels)
			if err != nil || !sel.Matches(podLabels) {
				bad("PodDisruptionBudget %s: selector does not match the pods", w.Name)
			}
		case *networkingv1.NetworkPolicy:
			sel, err := metaSelector(w.Spec.PodSelector.MatchLabels)
			if err != nil || !sel.Matches(podLabels) {
				bad("NetworkPolicy %s: podSelector does not match the pods", w.Name)
			}
			for _, r := range w.Spec.Ingress {
				for _, p := range r.Ports {
					if p.Port != nil {
						checkPort(*p.Port, ports, bad, "NetworkPolicy "+w.Name)
					}
				}
			}
		case *networkingv1.Ingress:
			for _, r := range w.Spec.Rules {
				for _, p := range r.HTTP.Paths {
					if !has("Service", p.Backend.Service.Name) {
						bad("Ingress %s: backend Service %s not rendered", w.Name, p.Backend.Service.Name)
					}
				}
			}
		case *monitoringv1.ServiceMonitor:
			found := false
			for _, o2 := range objs {
				if s, ok := o2.Obj.(*corev1.Service); ok && labels.SelectorFromSet(w.Spec.Selector.MatchLabels).Matches(labels.Set(s.Labels)) {
					found = true
					if !servicePortNamed(s, w.Spec.Endpoints[0].Port) {
						bad("ServiceMonitor %s: Service %s has no port %s", w.Name, s.Name, w.Spec.Endpoints[0].Port)
					}
				}
			}
			if !found {
				bad("ServiceMonitor %s selects no Service", w.Name)
			}
		}
	}
}

// nameErrors checks the object's name and labels as the API server would.
func nameErrors(o Object) []string {
	var msgs []string
	if o.Kind == "Service" {
		msgs = append(msgs, validation.IsDNS1035Label(o.Name)...)
	} else {
		msgs = append(msgs, validation.IsDNS1123Subdomain(o.Name)...)
	}
	if m, ok := o.Obj.(metav1.Object); ok {
		for k, v := range m.GetLabels() {
			msgs = append(msgs, validation.IsQualifiedName(k)...)
			msgs = append(msgs, validation.IsValidLabelValue(v)...)
		}
	}
	return msgs
}

func metaSelector(m map[string]string) (labels.Selector, error) {
	if len(m) == 0 {
		return nil, errors.New("empty selector")
	}
	return labels.SelectorFromSet(m), nil
}

func checkPort(p intstr.IntOrString, ports map[string]int32, bad func(string, ...any), where string) {
	if p.Type == intstr.String {
		if _, ok := ports[p.StrVal]; !ok {
			bad("%s: port %q is not a container port", where, p.StrVal)
		}
		return
	}
	for _, n := range ports {
		if n == p.IntVal {
			return
		}
	}
	bad("%s: port %d is not a container port", where, p.IntVal)
}

func servicePortNamed(s *corev1.Service, name string) bool {
	for _, p := range s.Spec.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}
