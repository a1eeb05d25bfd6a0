//! The 2-D transfer-function editor driven headlessly with egui_kittest, as the side panel
//! holds it (under the 1-D charts, sharing their undo history): real pointer and key events,
//! asserting the widgets that result.

use egui::{Event, Key, Modifiers, PointerButton, Pos2, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gradvol::gradient::Operator;
use gradvol::tf::TransferFunction;
use gradvol::tf::tf2d::Shape;
use gradvol::viewer::editor::{ChartData, Histogram, TfEditor};
use gradvol::viewer::plane::{PlaneData, PlaneEditor};

struct State {
    editor: TfEditor,
    plane: PlaneEditor,
    tf: TransferFunction,
    chart: ChartData,
    counts: Vec<u64>,
    hover: Option<[f64; 2]>,
}

const BINS: usize = 64;

/// Values 0..1000, |grad f| 0..100 on the chart; new widgets drawn against Sobel.
fn harness() -> Harness<'static, State> {
    let chart = ChartData {
        values: Histogram {
            range: [0.0, 1000.0],
            counts: (0..64).map(|i| 10 + i).collect(),
        },
        gradients: Histogram {
            range: [0.0, 100.0],
            counts: (0..64).map(|i| 1000 / (i + 1)).collect(),
        },
        unit: "HU".into(),
        hover: None,
        suggestion: None,
    };
    let state = State {
        editor: TfEditor::default(),
        plane: PlaneEditor::default(),
        tf: TransferFunction::default_for_range([0.0, 1000.0]),
        chart,
        counts: (0..BINS * BINS).map(|i| (i % 97) as u64).collect(),
        hover: None,
    };
    let mut harness = Harness::builder()
        .with_size(Vec2::new(480.0, 900.0))
        .with_step_dt(1.0 / 60.0)
        .build_ui_state(
            |ui, s: &mut State| {
                s.editor.ui(ui, &mut s.tf, &s.chart);
                let before = s.tf.clone();
                let data = PlaneData {
                    counts: &s.counts,
                    bins: BINS,
                    value_range: [0.0, 1000.0],
                    gradient_top: 100.0,
                    unit: "HU",
                    hover: s.hover,
                    operator: Operator::Sobel,
                    boundaries: None,
                    generation: 0,
                };
                s.plane.ui(ui, &mut s.tf, &data);
                s.editor.track(ui, before, &s.tf);
            },
            state,
        );
    harness.run();
    harness
}

fn at(h: &Harness<'_, State>, v: f64, g: f64) -> Pos2 {
    h.state().plane.axes().expect("drawn").to_screen([v, g])
}

/// Drags from data point `a` to data point `b` of the chart.
fn drag(h: &mut Harness<'_, State>, a: [f64; 2], b: [f64; 2]) {
    let (from, to) = (at(h, a[0], a[1]), at(h, b[0], b[1]));
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

fn shapes(h: &Harness<'_, State>) -> Vec<Shape> {
    h.state()
        .tf
        .tf2d
        .as_ref()
        .map(|t| t.widgets.iter().map(|w| w.shape).collect())
        .unwrap_or_default()
}

/// Within a pixel or two of the chart (values: 1000 over ~440 px; |grad f| on a square-root
/// axis of 200 px up to 100).
fn near(a: [f64; 2], b: [f64; 2]) -> bool {
    (a[0] - b[0]).abs() <= 5.0 && (a[1] - b[1]).abs() <= 0.04 * b[1].max(10.0)
}

#[test]
fn a_drag_adds_a_box_that_can_be_moved_resized_undone_and_deleted() {
    let mut h = harness();
    assert!(h.state().tf.tf2d.is_none());
    drag(&mut h, [200.0, 10.0], [400.0, 50.0]);
    let Shape::Box {
        value, gradient, ..
    } = shapes(&h)[0]
    else {
        panic!("a box: {:?}", shapes(&h));
    };
    assert!(
        near(value, [200.0, 400.0]) && near(gradient, [10.0, 50.0]),
        "{value:?} {gradient:?}"
    );
    let t = h.state().tf.tf2d.clone().unwrap();
    assert_eq!(
        t.gradient,
        Operator::Sobel,
        "drawn against the operator in use"
    );
    h.state().tf.validate().unwrap();

    // Move it by its body: +100 in value.
    drag(&mut h, [300.0, 25.0], [400.0, 25.0]);
    let Shape::Box { value: moved, .. } = shapes(&h)[0] else {
        panic!()
    };
    assert!(near(moved, [300.0, 500.0]), "{moved:?}");

    // Size it by its handle, the upper-right corner.
    drag(&mut h, [moved[1], gradient[1]], [700.0, 80.0]);
    let Shape::Box {
        value: sized,
        gradient: sized_g,
        ..
    } = shapes(&h)[0]
    else {
        panic!()
    };
    assert!(
        near(sized, [moved[0], 700.0]) && (sized_g[1] - 80.0).abs() < 3.0,
        "{sized:?} {sized_g:?}"
    );

    // One undo step per drag.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run();
    let Shape::Box { value: undone, .. } = shapes(&h)[0] else {
        panic!()
    };
    assert_eq!(undone, moved);
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.run();
    let Shape::Box { value: redone, .. } = shapes(&h)[0] else {
        panic!()
    };
    assert_eq!(redone, sized);

    // A right-click inside deletes it.
    let inside = at(&h, 0.5 * (sized[0] + sized[1]), 40.0);
    h.hover_at(inside);
    h.run();
    for pressed in [true, false] {
        h.event(Event::PointerButton {
            pos: inside,
            button: PointerButton::Secondary,
            pressed,
            modifiers: Modifiers::NONE,
        });
        h.step();
    }
    h.run();
    assert!(shapes(&h).is_empty(), "{:?}", shapes(&h));
}

#[test]
fn the_triangle_tool_and_typed_numbers_and_the_picked_sample() {
    let mut h = harness();
    h.get_by_label("triangle").click();
    h.run();
    drag(&mut h, [300.0, 5.0], [500.0, 60.0]);
    let Shape::Triangle {
        apex, top, width, ..
    } = shapes(&h)[0]
    else {
        panic!("a triangle: {:?}", shapes(&h));
    };
    assert!((apex - 400.0).abs() < 5.0 && (top - 60.0).abs() < 3.0 && (width - 200.0).abs() < 8.0);
    // The apex typed exactly.
    let field = h.get_by_label("apex");
    field.click();
    h.run();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_label("apex").type_text("432.5");
    h.key_press(Key::Enter);
    h.run();
    let Shape::Triangle { apex, .. } = shapes(&h)[0] else {
        panic!()
    };
    assert_eq!(apex, 432.5);
    // A sample hovered in the volume: a box around it.
    h.state_mut().hover = Some([700.0, 30.0]);
    h.run();
    h.state_mut().hover = None;
    h.run();
    h.get_by_label("Around the picked sample").click();
    h.run();
    let Shape::Box {
        value, gradient, ..
    } = shapes(&h)[1]
    else {
        panic!("a box: {:?}", shapes(&h));
    };
    assert!(value[0] < 700.0 && 700.0 < value[1] && gradient[0] < 30.0 && 30.0 < gradient[1]);
    assert!(h.state().tf.rgba_at(700.0, 30.0)[3] > 0.0);
    h.state().tf.validate().unwrap();
}
