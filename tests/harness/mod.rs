//! A headless screen for component tests: the real app in a VirtualDom, with a small tree
//! built from the mutations the VirtualDom emits (the way the webview builds its DOM), so
//! that a test can find an element by its attributes and send it the events a person's
//! tap or typing would send.
#![allow(dead_code)]

use std::any::Any;
use std::collections::HashMap;
use std::rc::Rc;

use dioxus::core::{AttributeValue, ElementId, Template, TemplateAttribute, TemplateNode, WriteMutations};
use dioxus::html::{
    PlatformEventData, SerializedFormData, SerializedFormObject, SerializedHtmlEventConverter, SerializedMouseData,
};
use dioxus::prelude::*;

#[derive(Debug, Clone)]
enum Kind {
    Element { tag: String, attrs: HashMap<String, String> },
    Text(String),
    Placeholder,
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    children: Vec<usize>,
    parent: Option<usize>,
    id: Option<ElementId>,
}

/// The tree the mutations build. Node 0 is the root, ElementId(0).
#[derive(Default)]
struct Tree {
    nodes: Vec<Node>,
    ids: HashMap<ElementId, usize>,
    stack: Vec<usize>,
    /// What was typed into a field, as a page keeps it (the field's `value`, which no
    /// render writes unless the app binds it).
    typed: HashMap<usize, String>,
    /// How many changes renders have made to the page: a render that changes nothing
    /// makes none.
    changes: usize,
}

impl Tree {
    fn new() -> Tree {
        let mut t = Tree::default();
        let root = t.add(Kind::Element { tag: "root".into(), attrs: HashMap::new() });
        t.ids.insert(ElementId(0), root);
        t.nodes[root].id = Some(ElementId(0));
        t
    }

    fn add(&mut self, kind: Kind) -> usize {
        self.nodes.push(Node { kind, children: Vec::new(), parent: None, id: None });
        self.nodes.len() - 1
    }

    fn clone_template(&mut self, node: &TemplateNode) -> usize {
        match node {
            TemplateNode::Element { tag, attrs, children, .. } => {
                let mut map = HashMap::new();
                for a in attrs.iter() {
                    if let TemplateAttribute::Static { name, value, .. } = a {
                        map.insert(name.to_string(), value.to_string());
                    }
                }
                let me = self.add(Kind::Element { tag: tag.to_string(), attrs: map });
                for child in children.iter() {
                    let c = self.clone_template(child);
                    self.nodes[c].parent = Some(me);
                    self.nodes[me].children.push(c);
                }
                me
            }
            TemplateNode::Text { text } => self.add(Kind::Text(text.to_string())),
            TemplateNode::Dynamic { .. } => self.add(Kind::Placeholder),
        }
    }

    fn node(&self, id: ElementId) -> usize {
        *self.ids.get(&id).unwrap_or_else(|| panic!("no node has {id:?}"))
    }

    fn at_path(&self, path: &[u8]) -> usize {
        let mut n = *self.stack.last().expect("a node on the stack");
        for i in path {
            n = self.nodes[n].children[*i as usize];
        }
        n
    }

    fn pop(&mut self, m: usize) -> Vec<usize> {
        let at = self.stack.len() - m;
        self.stack.split_off(at)
    }

    fn detach(&mut self, n: usize) {
        if let Some(p) = self.nodes[n].parent.take() {
            self.nodes[p].children.retain(|c| *c != n);
        }
    }

    fn replace(&mut self, old: usize, new: Vec<usize>) {
        let parent = self.nodes[old].parent.expect("the replaced node has a parent");
        let at = self.nodes[parent].children.iter().position(|c| *c == old).expect("a child of its parent");
        self.nodes[parent].children.splice(at..=at, new.iter().copied());
        for n in new {
            self.nodes[n].parent = Some(parent);
        }
        self.nodes[old].parent = None;
    }

    fn insert(&mut self, anchor: usize, new: Vec<usize>, after: bool) {
        let parent = self.nodes[anchor].parent.expect("the anchor has a parent");
        let at = self.nodes[parent].children.iter().position(|c| *c == anchor).expect("a child") + usize::from(after);
        for n in &new {
            self.detach(*n);
            self.nodes[*n].parent = Some(parent);
        }
        let at = at.min(self.nodes[parent].children.len());
        self.nodes[parent].children.splice(at..at, new);
    }

    fn attached(&self, mut n: usize) -> bool {
        while let Some(p) = self.nodes[n].parent {
            n = p;
        }
        n == 0
    }

    /// Live elements in document order.
    fn walk(&self, n: usize, out: &mut Vec<usize>) {
        out.push(n);
        for c in &self.nodes[n].children {
            self.walk(*c, out);
        }
    }
}

impl WriteMutations for Tree {
    fn append_children(&mut self, id: ElementId, m: usize) {
        self.changes += 1;
        let parent = self.node(id);
        for n in self.pop(m) {
            self.detach(n);
            self.nodes[n].parent = Some(parent);
            self.nodes[parent].children.push(n);
        }
    }

    fn assign_node_id(&mut self, path: &'static [u8], id: ElementId) {
        let n = self.at_path(path);
        self.nodes[n].id = Some(id);
        self.ids.insert(id, n);
    }

    fn create_placeholder(&mut self, id: ElementId) {
        let n = self.add(Kind::Placeholder);
        self.nodes[n].id = Some(id);
        self.ids.insert(id, n);
        self.stack.push(n);
    }

    fn create_text_node(&mut self, value: &str, id: ElementId) {
        let n = self.add(Kind::Text(value.into()));
        self.nodes[n].id = Some(id);
        self.ids.insert(id, n);
        self.stack.push(n);
    }

    fn load_template(&mut self, template: Template, index: usize, id: ElementId) {
        let n = self.clone_template(&template.roots[index]);
        self.nodes[n].id = Some(id);
        self.ids.insert(id, n);
        self.stack.push(n);
    }

    fn replace_node_with(&mut self, id: ElementId, m: usize) {
        self.changes += 1;
        let new = self.pop(m);
        let old = self.node(id);
        self.replace(old, new);
    }

    fn replace_placeholder_with_nodes(&mut self, path: &'static [u8], m: usize) {
        self.changes += 1;
        let new = self.pop(m);
        let old = self.at_path(path);
        self.replace(old, new);
    }

    fn insert_nodes_after(&mut self, id: ElementId, m: usize) {
        self.changes += 1;
        let new = self.pop(m);
        let anchor = self.node(id);
        self.insert(anchor, new, true);
    }

    fn insert_nodes_before(&mut self, id: ElementId, m: usize) {
        self.changes += 1;
        let new = self.pop(m);
        let anchor = self.node(id);
        self.insert(anchor, new, false);
    }

    fn set_attribute(&mut self, name: &'static str, _ns: Option<&'static str>, value: &AttributeValue, id: ElementId) {
        self.changes += 1;
        let n = self.node(id);
        if let Kind::Element { attrs, .. } = &mut self.nodes[n].kind {
            match value {
                AttributeValue::Text(t) => {
                    attrs.insert(name.into(), t.clone());
                }
                AttributeValue::Bool(b) => {
                    attrs.insert(name.into(), b.to_string());
                }
                AttributeValue::Int(i) => {
                    attrs.insert(name.into(), i.to_string());
                }
                AttributeValue::Float(f) => {
                    attrs.insert(name.into(), f.to_string());
                }
                AttributeValue::None => {
                    attrs.remove(name);
                }
                _ => {}
            }
        }
    }

    fn set_node_text(&mut self, value: &str, id: ElementId) {
        self.changes += 1;
        let n = self.node(id);
        self.nodes[n].kind = Kind::Text(value.into());
    }

    fn create_event_listener(&mut self, _name: &'static str, _id: ElementId) {}

    fn remove_event_listener(&mut self, _name: &'static str, _id: ElementId) {}

    fn remove_node(&mut self, id: ElementId) {
        self.changes += 1;
        let n = self.node(id);
        self.detach(n);
    }

    fn push_root(&mut self, id: ElementId) {
        let n = self.node(id);
        self.stack.push(n);
    }
}

/// The app on a headless screen.
pub struct Screen {
    dom: VirtualDom,
    tree: Tree,
}

impl Screen {
    pub fn new(dom: VirtualDom) -> Screen {
        set_event_converter(Box::new(SerializedHtmlEventConverter));
        let mut screen = Screen { dom, tree: Tree::new() };
        screen.dom.rebuild(&mut screen.tree);
        screen.settle();
        screen
    }

    fn settle(&mut self) {
        self.dom.render_immediate(&mut self.tree);
    }

    /// The screen as HTML, for assertions on what a person sees.
    pub fn html(&mut self) -> String {
        self.settle();
        dioxus_ssr::render(&self.dom)
    }

    /// The first live element that has attribute `name` with `value`.
    pub fn find(&self, name: &str, value: &str) -> Option<ElementId> {
        self.find_node(name, value).and_then(|n| self.tree.nodes[n].id)
    }

    /// The first live element that has attribute `name` with `value`, whether or not the
    /// app listens to it (a field it only reads from its form has no id of its own).
    fn find_node(&self, name: &str, value: &str) -> Option<usize> {
        let mut order = Vec::new();
        self.tree.walk(0, &mut order);
        order.into_iter().find(|&n| match &self.tree.nodes[n].kind {
            Kind::Element { attrs, .. } => attrs.get(name).map(String::as_str) == Some(value) && self.tree.attached(n),
            _ => false,
        })
    }

    /// Whether a live element has attribute `name` with `value`.
    pub fn has(&self, name: &str, value: &str) -> bool {
        self.find_node(name, value).is_some()
    }

    fn must_find_node(&mut self, name: &str, value: &str) -> usize {
        self.find_node(name, value)
            .unwrap_or_else(|| panic!("nothing on screen has {name}={value:?}:\n{}", self.html()))
    }

    fn must_find(&mut self, name: &str, value: &str) -> ElementId {
        self.find(name, value).unwrap_or_else(|| panic!("nothing on screen has {name}={value:?}:\n{}", self.html()))
    }

    fn send(&mut self, event: &str, id: ElementId, data: PlatformEventData) {
        let event_data = Event::new(Rc::new(data) as Rc<dyn Any>, true);
        self.dom.runtime().handle_event(event, event_data, id);
        self.settle();
    }

    /// Lets the app's background tasks (sync, pairing) run, until `done` holds for the
    /// screen's HTML or `limit` passes. Says whether `done` held.
    pub async fn wait_until(&mut self, limit: std::time::Duration, mut done: impl FnMut(&str) -> bool) -> bool {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let html = self.html();
            if done(&html) {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            let _ = tokio::time::timeout(std::time::Duration::from_millis(50), self.dom.wait_for_work()).await;
            self.settle();
        }
    }

    /// The value of attribute `wanted` on the first live element with `name` = `value`.
    pub fn attribute(&self, name: &str, value: &str, wanted: &str) -> Option<String> {
        let mut order = Vec::new();
        self.tree.walk(0, &mut order);
        order.into_iter().find_map(|n| match &self.tree.nodes[n].kind {
            Kind::Element { attrs, .. }
                if attrs.get(name).map(String::as_str) == Some(value) && self.tree.attached(n) =>
            {
                attrs.get(wanted).cloned()
            }
            _ => None,
        })
    }

    /// Taps the element with attribute `name` = `value`.
    pub fn tap(&mut self, name: &str, value: &str) {
        let id = self.must_find(name, value);
        self.click(id);
    }

    /// Taps element `id`: the event goes in, and the screen is brought up to date. A
    /// submit button then submits its form, as a page's would.
    pub fn click(&mut self, id: ElementId) {
        let n = self.tree.node(id);
        let submits = self.tree.tag(n) == Some("button")
            && !matches!(self.tree.attrs(n).and_then(|a| a.get("type")).map(String::as_str), Some("button" | "reset"));
        let form = if !submits {
            None
        } else if let Some(owner) = self.tree.attrs(n).and_then(|a| a.get("form")).cloned() {
            // A button may submit a form elsewhere on the page, named by its `form`.
            self.find("id", &owner).map(|id| self.tree.node(id))
        } else {
            self.tree.form_of(n)
        };
        self.send("click", id, PlatformEventData::new(Box::<SerializedMouseData>::default()));
        if let Some(form) = form.filter(|f| self.tree.attached(*f))
            && let Some(form_id) = self.tree.nodes[form].id
        {
            let values = self.tree.form_values(form);
            let data = SerializedFormData::new(String::new(), values);
            self.send("submit", form_id, PlatformEventData::new(Box::new(data)));
        }
    }

    /// Types `text` into the field with attribute `name` = `value`, replacing what was
    /// there, and leaves the field, as a page would: the field keeps it, and an input
    /// event, then a change event, go to the field with its form's values (if it is in a
    /// form).
    pub fn type_into(&mut self, name: &str, value: &str, text: &str) {
        let n = self.must_find_node(name, value);
        self.tree.typed.insert(n, text.to_owned());
        // An event goes to the nearest element the app knows, as a page's does.
        let mut at = n;
        let id = loop {
            match (self.tree.nodes[at].id, self.tree.nodes[at].parent) {
                (Some(id), _) => break id,
                (None, Some(parent)) => at = parent,
                (None, None) => return,
            }
        };
        for event in ["input", "change"] {
            let values = self.tree.form_of(n).map(|form| self.tree.form_values(form)).unwrap_or_default();
            let data = SerializedFormData::new(text.to_owned(), values);
            self.send(event, id, PlatformEventData::new(Box::new(data)));
        }
    }

    /// Presses the keys of `text` one by one into the field with attribute `name` =
    /// `value`, after what it holds, as a keyboard would: each key adds its character to
    /// the field, and an input event goes out, and nothing else (no change event: the
    /// field is not left).
    pub fn press_keys(&mut self, name: &str, value: &str, text: &str) {
        let n = self.must_find_node(name, value);
        let mut at = n;
        let target = loop {
            match (self.tree.nodes[at].id, self.tree.nodes[at].parent) {
                (Some(id), _) => break Some(id),
                (None, Some(parent)) => at = parent,
                (None, None) => break None,
            }
        };
        for c in text.chars() {
            let mut now = self.tree.value_of(n);
            now.push(c);
            self.tree.typed.insert(n, now.clone());
            if let Some(id) = target {
                let values = self.tree.form_of(n).map(|form| self.tree.form_values(form)).unwrap_or_default();
                let data = SerializedFormData::new(now, values);
                self.send("input", id, PlatformEventData::new(Box::new(data)));
            }
        }
    }

    /// How many changes renders have made to the page so far.
    pub fn changes(&self) -> usize {
        self.tree.changes
    }

    /// What the field with attribute `name` = `value` holds now, as a page would show
    /// it: what was typed into it, or else the value it was given.
    pub fn field_value(&self, name: &str, value: &str) -> Option<String> {
        Some(self.tree.value_of(self.find_node(name, value)?))
    }

    /// Submits the form with attribute `name` = `value`, with the values of its named
    /// fields, as a page sends them.
    pub fn submit(&mut self, name: &str, value: &str) {
        let id = self.must_find(name, value);
        let values = self.tree.form_values(self.tree.node(id));
        let data = SerializedFormData::new(String::new(), values);
        self.send("submit", id, PlatformEventData::new(Box::new(data)));
    }
}

impl Tree {
    fn attrs(&self, n: usize) -> Option<&HashMap<String, String>> {
        match &self.nodes[n].kind {
            Kind::Element { attrs, .. } => Some(attrs),
            _ => None,
        }
    }

    fn tag(&self, n: usize) -> Option<&str> {
        match &self.nodes[n].kind {
            Kind::Element { tag, .. } => Some(tag),
            _ => None,
        }
    }

    /// The form a node is in.
    fn form_of(&self, mut n: usize) -> Option<usize> {
        loop {
            if self.tag(n) == Some("form") {
                return Some(n);
            }
            n = self.nodes[n].parent?;
        }
    }

    /// A field's value: what was typed, or its `value`, or its `initial_value`.
    fn value_of(&self, n: usize) -> String {
        if let Some(text) = self.typed.get(&n) {
            return text.clone();
        }
        let attrs = self.attrs(n);
        attrs.and_then(|a| a.get("value").or_else(|| a.get("initial_value"))).cloned().unwrap_or_default()
    }

    /// The named fields of a form and their values, in document order, as a page's
    /// `FormData` holds them (a checkbox only when checked).
    fn form_values(&self, form: usize) -> Vec<SerializedFormObject> {
        let mut order = Vec::new();
        self.walk(form, &mut order);
        order
            .into_iter()
            .filter_map(|n| {
                let attrs = self.attrs(n)?;
                let key = attrs.get("name")?.clone();
                if !matches!(self.tag(n), Some("input" | "textarea" | "select")) {
                    return None;
                }
                if attrs.get("type").map(String::as_str) == Some("checkbox") {
                    return (attrs.get("checked").map(String::as_str) == Some("true")).then(|| SerializedFormObject {
                        key,
                        text: Some("on".into()),
                        file: None,
                    });
                }
                Some(SerializedFormObject { key, text: Some(self.value_of(n)), file: None })
            })
            .collect()
    }
}
