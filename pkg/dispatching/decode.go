package dispatching

// decode builds a Config from a tree that passed the schema. It stays
// defensive (a wrong kind yields a zero value, never a panic) so that a
// schema edit cannot crash the parser.
func decode(root *ynode) *Config {
	cfg := &Config{Outbound: []OutboundRule{}, Inbound: []InboundRule{}}
	if root == nil || root.kind != kindMap {
		return cfg
	}
	if v := root.get("version"); v != nil {
		// The schema only lets the number 1 through, in any notation
		// (1, 0x1, 1.0: JSON Schema compares numbers by value).
		cfg.Version = 1
	}
	for _, r := range seq(root.get("outbound")) {
		rule := OutboundRule{Pos: r.pos}
		if src := r.get("source"); src != nil {
			rule.Source = OutboundSource{Pos: src.anchorPos(), Workflow: str(src.get("workflow")), WorkflowPos: valuePos(src.get("workflow"))}
		}
		for _, t := range seq(r.get("targets")) {
			tgt := OutboundTarget{
				Pos:         t.pos,
				Repository:  str(t.get("repository")),
				Workflow:    str(t.get("workflow")),
				WorkflowPos: valuePos(t.get("workflow")),
				Ref:         str(t.get("ref")),
			}
			if in := t.get("inputs"); in != nil && in.kind == kindMap && len(in.keys) > 0 {
				tgt.Inputs = make([]Input, len(in.keys))
				for i, k := range in.keys {
					v := in.vals[i]
					tgt.Inputs[i] = Input{Pos: v.keyPos, Key: k, Value: str(v), ValuePos: v.valuePos()}
				}
			}
			rule.Targets = append(rule.Targets, tgt)
		}
		cfg.Outbound = append(cfg.Outbound, rule)
	}
	for _, r := range seq(root.get("inbound")) {
		rule := InboundRule{Pos: r.pos}
		if src := r.get("source"); src != nil {
			rule.Source = InboundSource{Pos: src.anchorPos(), Repository: str(src.get("repository")), Workflow: str(src.get("workflow")), WorkflowPos: valuePos(src.get("workflow"))}
		}
		for _, t := range seq(r.get("targets")) {
			tgt := InboundTarget{Pos: t.pos, Workflow: str(t.get("workflow")), WorkflowPos: valuePos(t.get("workflow"))}
			if acc := t.get("accept_inputs"); acc != nil && acc.kind == kindSeq {
				tgt.AcceptInputs = make([]string, 0, len(acc.items))
				tgt.AcceptInputsPos = make([]Pos, 0, len(acc.items))
				for _, it := range acc.items {
					tgt.AcceptInputs = append(tgt.AcceptInputs, str(it))
					tgt.AcceptInputsPos = append(tgt.AcceptInputsPos, it.pos)
				}
			}
			rule.Targets = append(rule.Targets, tgt)
		}
		cfg.Inbound = append(cfg.Inbound, rule)
	}
	return cfg
}

func seq(n *ynode) []*ynode {
	if n == nil || n.kind != kindSeq {
		return nil
	}
	return n.items
}

func str(n *ynode) string {
	if n == nil || n.kind != kindString {
		return ""
	}
	return n.text
}

// valuePos is the position of a value, or the zero Pos when it is absent.
func valuePos(n *ynode) Pos {
	if n == nil {
		return Pos{}
	}
	return n.valuePos()
}
