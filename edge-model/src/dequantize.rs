//! Int8 weights, dequantised once at load or only where they are read.
//!
//! The bundles store large weights as int8 behind `DequantizeLinear`. tract keeps that op in the
//! graph and would dequantise every weight on every call (MiniLM natively: 41 ms a tweet instead of
//! 7.7 ms), so the graph is rewritten before tract sees it, with the ONNX operator's own formula
//! `(x - zero_point) * scale`:
//! - an embedding table read by `Gather` stays int8: the rows are gathered first and only they are
//!   dequantised (the table is most of the memory: 4 bytes a weight would make the pre-initialized
//!   component 4x larger for that part);
//! - every other constant `DequantizeLinear` is folded into an fp32 initializer.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto};

/// Rewrite the graph's constant int8 `DequantizeLinear`s; returns how many were rewritten.
pub(crate) fn fold_constant_dequantize(model: &mut ModelProto) -> usize {
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(0, |o| o.version);
    let Some(graph) = model.graph.as_mut() else {
        return 0;
    };
    let gathered = gather_before_dequantize(graph, opset);
    gathered + fold(graph)
}

/// `Gather(DequantizeLinear(table, row_scale), ids)` becomes
/// `Gather(table, ids) as f32 * unsqueeze(Gather(row_scale, ids), -1)`: the same numbers.
fn gather_before_dequantize(graph: &mut GraphProto, opset: i64) -> usize {
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

/// Fold every remaining constant `DequantizeLinear` of int8 data into an fp32 initializer.
fn fold(graph: &mut GraphProto) -> usize {
    let index: HashMap<&str, usize> = graph
        .initializer
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    let mut folded = Vec::new();
    let mut consumed = HashSet::new();
    let mut kept = Vec::with_capacity(graph.node.len());
    for node in &graph.node {
        let inputs: Option<Vec<&TensorProto>> = node
            .input
            .iter()
            .map(|name| index.get(name.as_str()).map(|&i| &graph.initializer[i]))
            .collect();
        match inputs.as_deref() {
            Some([x, scale]) if node.op_type == "DequantizeLinear" => {
                match dequantize(node, x, scale) {
                    Some(tensor) => {
                        consumed.extend(node.input.iter().cloned());
                        folded.push(tensor);
                    }
                    None => kept.push(node.clone()),
                }
            }
            _ => kept.push(node.clone()),
        }
    }
    let count = folded.len();
    let still_used: HashSet<String> = kept.iter().flat_map(|n| n.input.iter().cloned()).collect();
    graph.node = kept;
    graph
        .initializer
        .retain(|t| !consumed.contains(&t.name) || still_used.contains(&t.name));
    graph.initializer.extend(folded);
    count
}

/// The fp32 tensor, or `None` for a layout this does not handle (left to tract as it is).
fn dequantize(node: &NodeProto, x: &TensorProto, scale: &TensorProto) -> Option<TensorProto> {
    if x.data_type != DataType::Int8 as i32
        || scale.data_type != DataType::Float as i32
        || x.raw_data.is_empty()
    {
        return None;
    }
    let scales: Vec<f32> = if scale.raw_data.is_empty() {
        scale.float_data.clone()
    } else {
        scale
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    let dims: Vec<usize> = x
        .dims
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()?;
    let rank = i64::try_from(dims.len()).ok()?;
    let axis = node
        .attribute
        .iter()
        .find(|a| a.name == "axis")
        .map_or(1, |a| a.i);
    let axis = usize::try_from(if axis < 0 { axis + rank } else { axis }).ok()?;
    let channel_of: Box<dyn Fn(usize) -> usize> = if scales.len() == 1 {
        Box::new(|_| 0)
    } else {
        let channels = *dims.get(axis)?;
        if scales.len() != channels {
            return None;
        }
        let inner: usize = dims[axis + 1..].iter().product();
        Box::new(move |k| (k / inner) % channels)
    };
    let raw_data = x
        .raw_data
        .iter()
        .enumerate()
        .flat_map(|(k, &q)| (f32::from(q as i8) * scales[channel_of(k)]).to_le_bytes())
        .collect();
    Some(TensorProto {
        name: node.output.first()?.clone(),
        dims: x.dims.clone(),
        data_type: DataType::Float as i32,
        raw_data,
        ..Default::default()
    })
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
            assert_eq!(fold_constant_dequantize(&mut model), 1);
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
    fn other_constant_dequantize_is_folded_to_fp32() {
        // Read by something other than Gather: folded once instead.
        let mut model = embedding_model(13);
        let graph = model.graph.as_mut().expect("graph");
        graph.node[1].op_type = "Identity".into();
        graph.node[1].input.truncate(1);
        assert_eq!(fold_constant_dequantize(&mut model), 1);
        let graph = model.graph.as_ref().expect("graph");
        assert_eq!(graph.node.len(), 1);
        let folded = graph
            .initializer
            .iter()
            .find(|t| t.name == "deq")
            .expect("folded");
        assert_eq!(folded.data_type, DataType::Float as i32);
        assert!(graph.initializer.iter().all(|t| t.name != "table"));
    }
}
