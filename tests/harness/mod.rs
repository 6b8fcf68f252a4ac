//! A headless screen for component tests: the real app in a VirtualDom, with a small tree
//! built from the mutations the VirtualDom emits (the way the webview builds its DOM), so
//! that a test can find an element by its attributes and send it the events a person's
//! tap or typing would send.
#![allow(dead_code)]

use std::any::Any;
use std::collections::HashMap;
use std::rc::Rc;

use dioxus::core::{AttributeValue, ElementId, Template, TemplateAttribute, TemplateNode, WriteMutations};
use dioxus::html::{PlatformEventData, SerializedFormData, SerializedHtmlEventConverter, SerializedMouseData};
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
        let new = self.pop(m);
        let old = self.node(id);
        self.replace(old, new);
    }

    fn replace_placeholder_with_nodes(&mut self, path: &'static [u8], m: usize) {
        let new = self.pop(m);
        let old = self.at_path(path);
        self.replace(old, new);
    }

    fn insert_nodes_after(&mut self, id: ElementId, m: usize) {
        let new = self.pop(m);
        let anchor = self.node(id);
        self.insert(anchor, new, true);
    }

    fn insert_nodes_before(&mut self, id: ElementId, m: usize) {
        let new = self.pop(m);
        let anchor = self.node(id);
        self.insert(anchor, new, false);
    }

    fn set_attribute(&mut self, name: &'static str, _ns: Option<&'static str>, value: &AttributeValue, id: ElementId) {
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
        let n = self.node(id);
        self.nodes[n].kind = Kind::Text(value.into());
    }

    fn create_event_listener(&mut self, _name: &'static str, _id: ElementId) {}

    fn remove_event_listener(&mut self, _name: &'static str, _id: ElementId) {}

    fn remove_node(&mut self, id: ElementId) {
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
        let mut order = Vec::new();
        self.tree.walk(0, &mut order);
        order.into_iter().find_map(|n| match &self.tree.nodes[n].kind {
            Kind::Element { attrs, .. }
                if attrs.get(name).map(String::as_str) == Some(value) && self.tree.attached(n) =>
            {
                self.tree.nodes[n].id
            }
            _ => None,
        })
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

    /// Taps element `id`: the event goes in, and the screen is brought up to date.
    pub fn click(&mut self, id: ElementId) {
        self.send("click", id, PlatformEventData::new(Box::<SerializedMouseData>::default()));
    }

    /// Types `text` into the field with attribute `name` = `value`, replacing what was there.
    pub fn type_into(&mut self, name: &str, value: &str, text: &str) {
        let id = self.must_find(name, value);
        let data = SerializedFormData::new(text.to_owned(), Vec::new());
        self.send("input", id, PlatformEventData::new(Box::new(data)));
    }

    /// Submits the form with attribute `name` = `value`.
    pub fn submit(&mut self, name: &str, value: &str) {
        let id = self.must_find(name, value);
        let data = SerializedFormData::new(String::new(), Vec::new());
        self.send("submit", id, PlatformEventData::new(Box::new(data)));
    }
}
