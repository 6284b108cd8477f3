package rules

import (
	"slices"
	"strings"
	"text/template"

	"github.com/prolific-receiver/receiver/internal/prolific"
)

// action validates a rule's action against its trigger: what each action
// needs, what it may not take, and approve's guards (docs/rules.md).
func (v *validator) action(at string, ac ActionConfig, t Trigger, notifiers map[string]bool, outputNames []string) Action {
	a := Action{Type: ac.Type}
	unused := func(field, val string) {
		if val != "" {
			v.Fail(at+"."+field, "%s: a %s action does not take %s", field, ac.Type, field)
		}
	}
	periodic := t.Kind == TriggerAwaitingReview || (t.Kind == TriggerHealth && t.Signal != SignalReconcileCorrections)
	studyLevel := t.Kind == TriggerStudyStatus || t.Kind == TriggerAwaitingReview || t.Kind == TriggerReturnShare ||
		(t.Kind == TriggerEvent && len(t.EventTypes) == 1 && strings.HasPrefix(t.EventTypes[0], "study."))
	switch ac.Type {
	case ActionNotify:
		a = v.notifyAction(at, ac, periodic, t.Kind, notifiers, unused)
	case ActionPause, ActionStop:
		if t.Kind == TriggerHealth {
			v.Fail(at+".type", "type: a health trigger can only notify")
		} else if !studyLevel && t.Kind == TriggerEvent && len(t.EventTypes) != 1 {
			v.Fail(at+".type", "type: %s needs a trigger about one study (a study event type, study_status, awaiting_review or return_share)", ac.Type)
		}
		a.Window = v.Duration(at+".window", "window", ac.Window, DefaultWindow)
		for f, val := range map[string]string{"notifier": ac.Notifier, "subject": ac.Subject, "text": ac.Text, "digest": ac.Digest,
			"group_id": ac.GroupID, "min_age": ac.MinAge, "output": ac.Output} {
			unused(f, val)
		}
	case ActionGroupAdd:
		a.GroupID = v.Expand(at+".group_id", "group_id", ac.GroupID)
		if a.GroupID == "" && ac.GroupID == "" {
			v.Fail(at+".group_id", "group_id: required (the participant group's ID)")
		}
		if t.Kind != TriggerEvent || !slices.Equal(t.EventTypes, []string{prolific.EventSubmissionStatusChange}) {
			v.Fail(at+".type", "type: group_add needs an event_type: submission.status.change trigger (it adds the submission's participant)")
		}
		for f, val := range map[string]string{"notifier": ac.Notifier, "digest": ac.Digest, "min_age": ac.MinAge, "output": ac.Output, "window": ac.Window} {
			unused(f, val)
		}
	case ActionApprove:
		if t.Kind != TriggerEvent || !slices.Equal(t.EventTypes, []string{prolific.EventSubmissionStatusChange}) ||
			!slices.Equal(t.Statuses, []string{prolific.SubmissionAwaitingReview}) {
			v.Fail(at+".type", "type: approve needs the trigger event_type: submission.status.change with statuses: [AWAITING REVIEW]")
		}
		if len(t.StudyIDs) == 0 {
			v.Fail(at+".type", "type: approve only acts on studies the rule names: list them in trigger.study_ids")
		}
		a.MinAge = v.Duration(at+".min_age", "min_age", ac.MinAge, 0)
		if ac.MinAge == "" {
			v.Fail(at+".min_age", "min_age: required for approve: how long a submission waits in AWAITING REVIEW first, e.g. 48h")
		}
		for f, val := range map[string]string{"notifier": ac.Notifier, "digest": ac.Digest, "group_id": ac.GroupID, "output": ac.Output, "window": ac.Window} {
			unused(f, val)
		}
	case ActionForward:
		a.Output = ac.Output
		if !slices.Contains(outputNames, ac.Output) {
			v.Fail(at+".output", "output: %q is not an output of RECEIVER_OUTPUTS_FILE", ac.Output)
		}
		if periodic {
			v.Fail(at+".type", "type: forward needs a trigger on events")
		}
	default:
		v.Fail(at+".type", "type: %q must be notify, pause, stop, group_add, approve or forward", ac.Type)
	}
	return a
}

func (v *validator) template(at, field, text, def string) *template.Template {
	if text == "" {
		text = def
	}
	t, err := template.New(field).Option("missingkey=zero").Parse(text)
	if err != nil {
		v.Fail(at, "%s: %v", field, err)
		return template.Must(template.New(field).Parse(def))
	}
	return t
}

// notifyAction validates a notify action: its notifier, templates, digest
// and window. unused records a field set that a notify action does not take.
func (v *validator) notifyAction(at string, ac ActionConfig, periodic bool, kind string, notifiers map[string]bool, unused func(field, val string)) Action {
	a := Action{Type: ac.Type, Notifier: ac.Notifier}
	if !notifiers[ac.Notifier] {
		v.Fail(at+".notifier", "notifier: %q is not one of the file's notifiers", ac.Notifier)
	}
	a.Subject = v.template(at+".subject", "subject", ac.Subject, defaultSubject)
	a.Text = v.template(at+".text", "text", ac.Text, defaultText)
	if ac.Digest != "" {
		if periodic {
			v.Fail(at+".digest", "digest: a %s trigger fires once per window already (use window)", kind)
		}
		a.Digest = v.Duration(at+".digest", "digest", ac.Digest, 0)
		if a.Digest > 0 && a.Digest < MinDigest {
			v.Fail(at+".digest", "digest: at least %s", MinDigest)
		}
		a.Delay = min(v.Duration(at+".delay", "delay", ac.Delay, DefaultDigestDelay), a.Digest)
	} else {
		unused("delay", ac.Delay)
	}
	a.Window = v.Duration(at+".window", "window", ac.Window, DefaultCheckWindow)
	unused("group_id", ac.GroupID)
	unused("min_age", ac.MinAge)
	unused("output", ac.Output)
	return a
}
