//! Int8 weights, dequantised once at load or only where they are read.
//!
//! The bundles store large weights as int8 behind `DequantizeLinear`. tract keeps that op in the
//! graph and would dequantise every weight on every call (MiniLM natively: 41 ms a tweet instead of
//! 7.7 ms): its constant folding declines a result larger than its inputs. So:
//! - an embedding table read by `Gather` stays int8: the protobuf is rewritten so that the rows
//!   are gathered first and only they are dequantised, with the operator's own formula
//!   `(x - zero_point) * scale` (the table is most of the memory: 4 bytes a weight would make the
//!   pre-initialized component 4x larger for that part);
//! - every other constant `DequantizeLinear` is evaluated into an fp32 constant once tract has
//!   loaded the int8 graph ([`fold_constant_nodes`]): the protobuf and tract's copy of it then
//!   hold int8 weights, which keeps the build's peak memory, and so a pre-initialized component's
//!   memory image, well under twice what it keeps.

use std::collections::HashMap;

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::source::TypedSource;

/// Rewrite the embedding tables' `DequantizeLinear`s to gather first; returns how many.
pub(crate) fn gather_before_dequantize(model: &mut ModelProto) -> usize {
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(0, |o| o.version);
    let Some(graph) = model.graph.as_mut() else {
        return 0;
    };
    gather_rows_first(graph, opset)
}

/// `Gather(DequantizeLinear(table, row_scale), ids)` becomes
/// `Gather(table, ids) as f32 * unsqueeze(Gather(row_scale, ids), -1)`: the same numbers.
fn gather_rows_first(graph: &mut GraphProto, opset: i64) -> usize {
    let initializers: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let mut rewritten: HashMap<String, (String, String)> = HashMap::new();
    for node in &graph.node {
        let [x, scale] = node.input.as_slice() else {
            continue;
        };
        let (Some(x_tensor), Some(scale_tensor), Some(output)) = (
            initializers.get(x.as_str()),
            initializers.get(scale.as_str()),
            node.output.first(),
        ) else {
            continue;
        };
        let per_row = x_tensor.data_type == DataType::Int8 as i32
            && x_tensor.dims.len() == 2
            && scale_tensor.dims.as_slice() == [x_tensor.dims[0]]
            && int_attribute(node, "axis").unwrap_or(1) == 0;
        let only_gathered = graph.node.iter().all(|n| {
            !n.input.contains(output)
                || (n.op_type == "Gather"
                    && n.input.first() == Some(output)
                    && n.input.iter().filter(|i| *i == output).count() == 1
                    && int_attribute(n, "axis").unwrap_or(0) == 0)
        });
        if node.op_type == "DequantizeLinear" && per_row && only_gathered {
            rewritten.insert(output.clone(), (x.clone(), scale.clone()));
        }
    }
    if rewritten.is_empty() {
        return 0;
    }
    let mut nodes = Vec::with_capacity(graph.node.len() + 4 * rewritten.len());
    let mut axes_initializers = Vec::new();
    for node in graph.node.drain(..) {
        if node.op_type == "DequantizeLinear"
            && node
                .output
                .first()
                .is_some_and(|o| rewritten.contains_key(o))
        {
            continue;
        }
        let source = node.input.first().and_then(|i| rewritten.get(i));
        let (Some((table, row_scale)), Some(ids), Some(output)) =
            (source, node.input.get(1), node.output.first())
        else {
            nodes.push(node);
            continue;
        };
        let name = |suffix: &str| format!("{output}/{suffix}");
        nodes.push(op("Gather", [table, ids], &name("rows_int8"), vec![]));
        nodes.push(op("Gather", [row_scale, ids], &name("row_scales"), vec![]));
        let to_float = int(AttributeProto::default(), "to", DataType::Float as i64);
        nodes.push(op(
            "Cast",
            [&name("rows_int8")],
            &name("rows"),
            vec![to_float],
        ));
        let unsqueeze = if opset >= 13 {
            axes_initializers.push(TensorProto {
                name: name("axes"),
                dims: vec![1],
                data_type: DataType::Int64 as i32,
                int64_data: vec![-1],
                ..Default::default()
            });
            op(
                "Unsqueeze",
                [&name("row_scales"), &name("axes")],
                &name("scales"),
                vec![],
            )
        } else {
            let axes = AttributeProto {
                name: "axes".into(),
                r#type: AttributeType::Ints as i32,
                ints: vec![-1],
                ..Default::default()
            };
            op(
                "Unsqueeze",
                [&name("row_scales")],
                &name("scales"),
                vec![axes],
            )
        };
        nodes.push(unsqueeze);
        nodes.push(op("Mul", [&name("rows"), &name("scales")], output, vec![]));
    }
    graph.node = nodes;
    graph.initializer.extend(axes_initializers);
    rewritten.len()
}

fn int_attribute(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

fn int(attribute: AttributeProto, name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..attribute
    }
}

fn op<const N: usize>(
    op_type: &str,
    inputs: [&String; N],
    output: &str,
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        name: output.into(),
        op_type: op_type.into(),
        input: inputs.iter().map(|i| (*i).clone()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

/// Evaluate every node whose inputs are all constant into a constant: the cast, zero point and
/// scale that tract makes of a constant `DequantizeLinear`, and whatever else only reads
/// constants. tract's own folding declines results larger than their inputs, which int8 -> fp32
/// is; a result up to 4x its inputs (plus 1 MiB) is accepted here. Returns how many were folded.
pub(crate) fn fold_constant_nodes(model: &mut TypedModel) -> TractResult<usize> {
    let mut folded = 0;
    // One pass in evaluation order: a patch only appends the constants and rewires the folded
    // node's successors to them, so every later node already sees its inputs folded.
    for id in model.eval_order()? {
        if let Some(patch) = folding_patch(model, id)? {
            patch.apply(model)?;
            folded += 1;
        }
    }
    // The int8 constants and the folded nodes are unreachable now: let their memory go.
    model.compact()?;
    Ok(folded)
}

/// The patch replacing node `id` by the constants it evaluates to, if it only reads constants.
fn folding_patch(model: &TypedModel, id: usize) -> TractResult<Option<TypedModelPatch>> {
    const GROWTH: u64 = 4;
    const ALWAYS: u64 = 1 << 20;
    let node = model.node(id);
    if node.op_is::<Const>() || node.op_is::<TypedSource>() || node.inputs.is_empty() {
        return Ok(None);
    }
    let Some(inputs) = model
        .node_input_facts(id)?
        .iter()
        .map(|fact| fact.konst.clone())
        .collect::<Option<TVec<Arc<Tensor>>>>()
    else {
        return Ok(None);
    };
    let input_bytes: u64 = inputs.iter().map(|t| bytes_of(t)).sum();
    let Ok(Some(outputs)) = node
        .op
        .eval_out_of_plan(inputs.into_iter().map(|t| t.into_tvalue()).collect())
    else {
        return Ok(None);
    };
    let output_bytes: u64 = outputs.iter().map(|t| bytes_of(t)).sum();
    if output_bytes > GROWTH * input_bytes + ALWAYS {
        return Ok(None);
    }
    let mut patch = TypedModelPatch::default();
    for (slot, output) in outputs.into_iter().enumerate() {
        let name = format!("{}.folded.{slot}", node.name);
        let wire = patch.wire_node(name, Const::new(output.into_arc_tensor())?, &[])?[0];
        patch.shunt_outside(model, OutletId::new(id, slot), wire)?;
    }
    Ok(Some(patch))
}

fn bytes_of(tensor: &Tensor) -> u64 {
    (tensor.datum_type().size_of() * tensor.volume()) as u64
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb::{OperatorSetIdProto, TypeProto, ValueInfoProto, type_proto};
    use tract_onnx::prelude::*;

    use super::*;

    /// `Gather(DequantizeLinear(table, row_scale, axis=0), ids)` with a 3x2 int8 table.
    fn embedding_model(opset: i64) -> ModelProto {
        let table = TensorProto {
            name: "table".into(),
            dims: vec![3, 2],
            data_type: DataType::Int8 as i32,
            raw_data: [1i8, -2, 3, 4, -127, 127]
                .iter()
                .map(|&q| q as u8)
                .collect(),
            ..Default::default()
        };
        let row_scale = TensorProto {
            name: "row_scale".into(),
            dims: vec![3],
            data_type: DataType::Float as i32,
            float_data: vec![0.5, 0.25, 0.01],
            ..Default::default()
        };
        let [table_name, scale_name, deq, ids] =
            ["table", "row_scale", "deq", "ids"].map(String::from);
        let dequantize = op(
            "DequantizeLinear",
            [&table_name, &scale_name],
            "deq",
            vec![int(AttributeProto::default(), "axis", 0)],
        );
        let graph = GraphProto {
            node: vec![dequantize, op("Gather", [&deq, &ids], "embedded", vec![])],
            initializer: vec![table, row_scale],
            input: vec![ValueInfoProto {
                name: ids,
                r#type: Some(TypeProto {
                    value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                        elem_type: DataType::Int64 as i32,
                        shape: None,
                    })),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            output: vec![ValueInfoProto {
                name: "embedded".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        ModelProto {
            graph: Some(graph),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: opset,
            }],
            ..Default::default()
        }
    }

    fn embed(model: &ModelProto, ids: &[i64]) -> TractResult<Vec<f32>> {
        let runnable = tract_onnx::onnx()
            .model_for_proto_model(model)?
            .with_input_fact(0, i64::fact([ids.len()]).into())?
            .into_optimized()?
            .into_runnable()?;
        let ids = tract_ndarray::Array1::from(ids.to_vec()).into_tensor();
        let out = runnable.run(tvec!(ids.into()))?;
        Ok(out[0]
            .to_plain_array_view::<f32>()?
            .iter()
            .copied()
            .collect())
    }

    #[test]
    fn embedding_tables_stay_int8_and_give_the_same_rows() -> TractResult<()> {
        for opset in [11, 13] {
            let mut model = embedding_model(opset);
            assert_eq!(gather_before_dequantize(&mut model), 1);
            let graph = model.graph.as_ref().expect("graph");
            assert!(graph.node.iter().all(|n| n.op_type != "DequantizeLinear"));
            let table = graph
                .initializer
                .iter()
                .find(|t| t.name == "table")
                .expect("kept");
            assert_eq!(table.data_type, DataType::Int8 as i32);

            let rows = embed(&model, &[2, 0, 2])?;
            assert_eq!(rows, [-1.27, 1.27, 0.5, -1.0, -1.27, 1.27], "opset {opset}");
        }
        Ok(())
    }

    #[test]
    fn other_constant_dequantize_is_folded_to_fp32_in_tract() -> TractResult<()> {
        // A table read by something other than Gather stays in the protobuf and is folded once
        // tract has it: 8 MB of fp32, more than tract's own folding accepts (4 MiB).
        let (rows, columns) = (1024, 2048);
        let mut model = embedding_model(13);
        let graph = model.graph.as_mut().expect("graph");
        graph.initializer[0].dims = vec![rows, columns];
        graph.initializer[0].raw_data = (0..rows * columns).map(|i| (i % 255) as u8).collect();
        graph.initializer[1].dims = vec![rows];
        graph.initializer[1].float_data = (0..rows).map(|r| 0.01 * (r + 1) as f32).collect();
        graph.node[1].op_type = "Identity".into();
        graph.node[1].input.truncate(1);
        graph.input.clear();
        assert_eq!(gather_before_dequantize(&mut model), 0);
        let mut typed = tract_onnx::onnx()
            .model_for_proto_model(&model)?
            .into_typed()?;
        assert!(fold_constant_nodes(&mut typed)? > 0);
        let [output] = typed.output_outlets()? else {
            panic!("one output");
        };
        assert!(typed.node(output.node).op_is::<Const>());
        let values = typed
            .outlet_fact(*output)?
            .konst
            .clone()
            .expect("a constant");
        let values = values.to_plain_array_view::<f32>()?;
        // (x - 0) * scale, row by row, x as int8: byte 200 is -56.
        assert_eq!(values[[0, 1]], 0.01);
        assert_eq!(values[[0, 200]], -56.0 * 0.01);
        let row_9 = 0.01 * 10.0_f32;
        assert_eq!(
            values[[9, 0]],
            f32::from((9 * 2048 % 255) as u8 as i8) * row_9
        );
        Ok(())
    }
}
