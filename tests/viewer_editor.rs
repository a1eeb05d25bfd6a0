//! The transfer-function editor driven headlessly with egui_kittest: real pointer and key
//! events on the real widget, asserting the transfer function that results.

use egui::{Event, Key, Modifiers, PointerButton, Pos2, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gradvol::tf::TransferFunction;
use gradvol::viewer::editor::{ChartData, Curve, Histogram, Point, TfEditor};

struct State {
    editor: TfEditor,
    tf: TransferFunction,
    data: ChartData,
    changes: usize,
}

/// Scalar points (0, 0), (20, 0), (100, 0.5) over data 0..100; gradient points (0, 0.2),
/// (10, 1) over |grad f| 0..8 (the chart spans 0..10).
fn harness() -> Harness<'static, State> {
    let mut tf = TransferFunction::default_for_range([0.0, 100.0]);
    tf.gradient_opacity = vec![[0.0, 0.2], [10.0, 1.0]];
    let data = ChartData {
        values: Histogram {
            range: [0.0, 100.0],
            counts: (0..64).map(|i| 10 + i * i).collect(),
        },
        gradients: Histogram {
            range: [0.0, 8.0],
            counts: (0..64).map(|i| 1000 / (i + 1)).collect(),
        },
        unit: "HU".into(),
        hover: None,
        suggestion: Some(vec![[0.0, 0.0], [2.0, 0.0], [6.0, 1.0]]),
    };
    let state = State {
        editor: TfEditor::default(),
        tf,
        data,
        changes: 0,
    };
    let mut harness = Harness::builder()
        .with_size(Vec2::new(460.0, 420.0))
        .with_step_dt(1.0 / 60.0)
        .build_ui_state(
            |ui, s: &mut State| {
                if s.editor.ui(ui, &mut s.tf, &s.data) {
                    s.changes += 1;
                }
            },
            state,
        );
    harness.run();
    harness
}

fn at(h: &Harness<'_, State>, curve: Curve, x: f64, y: f64) -> Pos2 {
    h.state()
        .editor
        .screen_position(curve, x, y)
        .expect("the chart was drawn")
}

fn point(h: &Harness<'_, State>, p: Point) -> Pos2 {
    h.state()
        .editor
        .point_position(&h.state().tf, p)
        .expect("the point exists")
}

/// Presses at `from`, moves to `to` in a few steps and releases there.
fn drag(h: &mut Harness<'_, State>, from: Pos2, to: Pos2) {
    h.hover_at(from);
    h.run();
    h.drag_at(from);
    h.run();
    for k in 1..=4 {
        h.hover_at(from + (to - from) * (k as f32 / 4.0));
        h.run();
    }
    h.drop_at(to);
    h.run();
}

fn click(h: &mut Harness<'_, State>, pos: Pos2, button: PointerButton, times: usize) {
    h.hover_at(pos);
    // Half a second apart from any earlier click, so this one starts a new count.
    for _ in 0..30 {
        h.step();
    }
    // One click per frame, a 60th of a second apart: well inside the double-click interval.
    for _ in 0..times {
        for pressed in [true, false] {
            h.event(Event::PointerButton {
                pos,
                button,
                pressed,
                modifiers: Modifiers::NONE,
            });
        }
        h.step();
    }
    h.run();
}

/// One pixel of the chart in data units, for tolerances.
fn near(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn dragging_the_last_endpoint_moves_it_and_keeps_the_curve_valid() {
    let mut h = harness();
    let from = point(&h, Point::opacity(2));
    let to = at(&h, Curve::Opacity, 80.0, 0.9);
    drag(&mut h, from, to);
    let p = h.state().tf.scalar_opacity[2];
    assert!(near(p[0], 80.0, 0.5) && near(p[1], 0.9, 0.02), "{p:?}");
    // Dragging the first endpoint past its neighbour stops at the neighbour.
    let from = point(&h, Point::opacity(0));
    let to = at(&h, Curve::Opacity, 60.0, 0.3);
    drag(&mut h, from, to);
    let tf = &h.state().tf;
    assert_eq!(tf.scalar_opacity[0][0], tf.scalar_opacity[1][0]);
    assert!(near(tf.scalar_opacity[0][1], 0.3, 0.02));
    tf.validate().unwrap();
    assert!(h.state().changes > 0);
}

#[test]
fn a_double_click_adds_a_point_where_it_lands() {
    let mut h = harness();
    let pos = at(&h, Curve::Opacity, 50.0, 0.25);
    click(&mut h, pos, PointerButton::Primary, 2);
    let tf = &h.state().tf;
    assert_eq!(tf.scalar_opacity.len(), 4, "{:?}", tf.scalar_opacity);
    let p = tf.scalar_opacity[2];
    assert!(near(p[0], 50.0, 0.5) && near(p[1], 0.25, 0.02), "{p:?}");
    assert_eq!(h.state().editor.selected, Some(Point::opacity(2)));
    // On the colour strip a double-click adds a colour point with the colour already there.
    let pos = at(&h, Curve::Color, 60.0, 0.0);
    click(&mut h, pos, PointerButton::Primary, 2);
    let tf = &h.state().tf;
    assert_eq!(tf.color.len(), 4);
    let c = tf.color[2];
    assert!(near(c[0], 60.0, 0.5) && near(c[1], 0.75, 0.01), "{c:?}");
    tf.validate().unwrap();
}

#[test]
fn right_click_and_delete_remove_points_but_never_the_last_one() {
    let mut h = harness();
    let pos = point(&h, Point::opacity(1));
    click(&mut h, pos, PointerButton::Secondary, 1);
    assert_eq!(h.state().tf.scalar_opacity, vec![[0.0, 0.0], [100.0, 0.5]]);
    // Select the gradient curve's first point, then press Delete.
    let pos = point(&h, Point::gradient(0));
    click(&mut h, pos, PointerButton::Primary, 1);
    assert_eq!(h.state().editor.selected, Some(Point::gradient(0)));
    h.key_press(Key::Delete);
    h.run();
    assert_eq!(h.state().tf.gradient_opacity, vec![[10.0, 1.0]]);
    let pos = point(&h, Point::gradient(0));
    click(&mut h, pos, PointerButton::Secondary, 1);
    assert_eq!(h.state().tf.gradient_opacity, vec![[10.0, 1.0]]);
}

#[test]
fn typed_values_are_exact() {
    let mut h = harness();
    let pos = point(&h, Point::opacity(1));
    click(&mut h, pos, PointerButton::Primary, 1);
    assert_eq!(h.state().editor.selected, Some(Point::opacity(1)));
    h.get_by_label("value").click();
    h.run();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_label("value").type_text("42.5");
    h.key_press(Key::Enter);
    h.run();
    h.get_by_label("opacity").click();
    h.run();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_label("opacity").type_text("0.125");
    h.key_press(Key::Enter);
    h.run();
    assert_eq!(h.state().tf.scalar_opacity[1], [42.5, 0.125]);
}

#[test]
fn undo_and_redo_step_through_whole_edits() {
    let mut h = harness();
    let original = h.state().tf.clone();
    let from = point(&h, Point::gradient(1));
    let to = at(&h, Curve::Gradient, 5.0, 0.6);
    drag(&mut h, from, to);
    let dragged = h.state().tf.clone();
    assert_ne!(dragged, original);
    let pos = point(&h, Point::opacity(1));
    click(&mut h, pos, PointerButton::Secondary, 1);
    let deleted = h.state().tf.clone();
    assert_eq!(deleted.scalar_opacity.len(), 2);

    // Ctrl+Z twice: the deletion, then the whole drag (not one step of it).
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run();
    assert_eq!(h.state().tf, dragged);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run();
    assert_eq!(h.state().tf, original);
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.run();
    assert_eq!(h.state().tf, dragged);
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.run();
    assert_eq!(h.state().tf, deleted);
}

#[test]
fn suggest_applies_the_statistics_curve_and_off_flattens_it() {
    let mut h = harness();
    h.get_by_label("Suggest").click();
    h.run();
    assert_eq!(
        h.state().tf.gradient_opacity,
        vec![[0.0, 0.0], [2.0, 0.0], [6.0, 1.0]]
    );
    h.get_by_label("Off").click();
    h.run();
    assert_eq!(h.state().tf.gradient_opacity, vec![[0.0, 1.0]]);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run();
    assert_eq!(h.state().tf.gradient_opacity.len(), 3);
}
